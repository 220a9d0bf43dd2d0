/*
 * fuzz_attributes: libFuzzer target for the slave's --attributes parser
 * (slave/detect.c, "rack:a;zone:b;weight:2;slots:[1-4];disks:{a,b}") and
 * the JSON the /state endpoints make of what it parsed (common/attributes.c).
 *
 * Besides crashes, leaks and sanitizer findings it checks the contract: a
 * refusal says why and keeps no attribute; what parses has one attribute
 * per non-empty ';' item, each with a name and a value of a known type,
 * and renders to a JSON object.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attributes.h"
#include "mem.h"
#include "pbutil.h"
#include "slave.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct slave_flags flags;
    struct slave s;
    char *err = NULL;
    size_t items = 0;

    memset(&flags, 0, sizeof(flags));
    memset(&s, 0, sizeof(s));
    flags.attributes = xstrndup((const char *)data, size);
    s.flags = &flags;
    for (const char *p = flags.attributes; *p;) {
        size_t n = strcspn(p, ";");
        items += n > 0;
        p += n;
        p += *p == ';';
    }
    if (slave_setup_attributes(&s, &err) != 0) {
        if (err == NULL)
            abort();
        free(err);
    } else {
        if (err != NULL || s.nattributes != items)
            abort();
        for (size_t i = 0; i < s.nattributes; i++)
            if (s.attributes[i]->name == NULL || s.attributes[i]->name[0] == '\0')
                abort();
        json_t *j = attributes_to_json(s.attributes, s.nattributes);
        if (!json_is_object(j))
            abort();
        free(json_dumps(j, JSON_COMPACT));
        json_decref(j);
    }
    for (size_t i = 0; i < s.nattributes; i++)
        pb_free(s.attributes[i]);
    free(s.attributes);
    free(flags.attributes);
    return 0;
}

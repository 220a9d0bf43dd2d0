/*
 * fuzz_acls: libFuzzer target for the --acls file (common/acls.c).
 *
 * The input is parsed as the ACL text; what parses is asked every action
 * for a few principals and objects (none, names the seeds use, and the
 * empty string). Besides crashes, leaks and sanitizer findings it checks
 * the contract: a refusal comes with an error, a parse without one; a NULL
 * ACL set allows everything; an answer does not depend on being asked
 * twice.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acls.h"

static const char *const who[] = { NULL, "", "admin", "batch", "agent", "a" };
static const char *const what[] = { NULL, "", "root", "web", "*", "nobody", "batch" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *err = NULL;
    struct acls *a = acls_parse((const char *)data, size, &err);

    if (a == NULL) {
        if (err == NULL || err[0] == '\0')
            abort();
        free(err);
        return 0;
    }
    if (err != NULL)
        abort();
    for (int act = 0; act < ACL_NACTIONS; act++) {
        if (acl_action_name((enum acl_action)act) == NULL)
            abort();
        for (size_t i = 0; i < sizeof(who) / sizeof(who[0]); i++)
            for (size_t j = 0; j < sizeof(what) / sizeof(what[0]); j++) {
                bool x = acls_allowed(a, (enum acl_action)act, who[i], what[j]);
                if (x != acls_allowed(a, (enum acl_action)act, who[i], what[j]))
                    abort();
                if (!acls_allowed(NULL, (enum acl_action)act, who[i], what[j]))
                    abort();
            }
    }
    acls_free(a);
    return 0;
}

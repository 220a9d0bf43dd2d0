/*
 * attributes: slave attributes rendered as JSON (see attributes.h).
 */
#include "attributes.h"

#include <event2/buffer.h>

json_t *attribute_value_json(const Mesos__V1__Attribute *a)
{
    struct evbuffer *b;
    json_t *out;

    switch (a->type) {
    case MESOS__V1__VALUE__TYPE__SCALAR:
        return json_real(a->scalar ? a->scalar->value : 0);
    case MESOS__V1__VALUE__TYPE__TEXT:
        return json_string(a->text && a->text->value ? a->text->value : "");
    case MESOS__V1__VALUE__TYPE__RANGES:
    case MESOS__V1__VALUE__TYPE__SET:
        break;
    default:
        return json_null();
    }
    b = evbuffer_new();
    if (a->type == MESOS__V1__VALUE__TYPE__RANGES) {
        evbuffer_add(b, "[", 1);
        for (size_t i = 0; a->ranges && i < a->ranges->n_range; i++)
            evbuffer_add_printf(b, "%s%llu-%llu", i ? ", " : "",
                                (unsigned long long)a->ranges->range[i]->begin,
                                (unsigned long long)a->ranges->range[i]->end);
        evbuffer_add(b, "]", 1);
    } else {
        evbuffer_add(b, "{", 1);
        for (size_t i = 0; a->set && i < a->set->n_item; i++)
            evbuffer_add_printf(b, "%s%s", i ? ", " : "", a->set->item[i]);
        evbuffer_add(b, "}", 1);
    }
    out = json_stringn((const char *)evbuffer_pullup(b, -1), evbuffer_get_length(b));
    evbuffer_free(b);
    return out ? out : json_string("");
}

json_t *attributes_to_json(Mesos__V1__Attribute *const *attrs, size_t n)
{
    json_t *o = json_object();

    for (size_t i = 0; attrs && i < n; i++)
        if (attrs[i]->name)
            json_object_set_new(o, attrs[i]->name, attribute_value_json(attrs[i]));
    return o;
}

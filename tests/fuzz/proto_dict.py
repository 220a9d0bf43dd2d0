#!/usr/bin/env python3
"""Write a libFuzzer dictionary of the JSON a protobuf schema allows: JSON
syntax, every field name as "\"name\":" and every enum value as "\"VALUE\"".

    tests/fuzz/proto_dict.py proto/scheduler.proto proto/mesos.proto > tests/fuzz/dict/fuzz_pbjson.dict
"""
import re, sys
names, enums = set(), set()
for p in sys.argv[1:]:
    t = open(p).read()
    t = re.sub(r'//[^\n]*', '', t)
    for m in re.finditer(r'(?:optional|required|repeated)\s+[\w.]+\s+(\w+)\s*=', t):
        names.add(m.group(1))
    for m in re.finditer(r'enum\s+\w+\s*\{([^}]*)\}', t):
        for e in re.finditer(r'(\w+)\s*=\s*-?\d+', m.group(1)):
            enums.add(e.group(1))
print('# JSON syntax')
for tok in ['{', '}', '[', ']', ':', ',', '"', 'true', 'false', 'null', '-0', '1e308', '0.1', '-1', '9223372036854775807', '18446744073709551615', '\\\\u0000', '\\\\ud83d\\\\ude00', '\\\\"']:
    print('"%s"' % tok.replace('"', '\\"') if tok not in ('"',) else '"\\""')
print('# field names of %s' % ' '.join(a.split('/')[-1] for a in sys.argv[1:]))
for n in sorted(names):
    print('"\\"%s\\":"' % n)
print('# enum values')
for e in sorted(enums):
    print('"\\"%s\\""' % e)

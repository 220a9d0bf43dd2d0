"""TLS (issue 13, item 4) between real daemons: a CA and certificates made
here with openssl; a master and a slave serving TLS only, agora-batch
verifying the master, clients refusing a certificate from another CA or
for another address, and plain HTTP getting no answer."""
import os
import subprocess

import pytest
import requests

from agora_harness import BIN, wait_for


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
            "-subj", f"/CN={name}", cwd=d)
    return os.path.join(d, f"{name}.pem")


def make_cert(d, ca, name, san):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    ext = os.path.join(d, f"{name}.ext")
    with open(ext, "w") as f:
        f.write(f"subjectAltName={san}\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", ext, cwd=d)
    return os.path.join(d, f"{name}.pem"), os.path.join(d, f"{name}.key")


@pytest.fixture
def pki(tmp_path):
    d = str(tmp_path / "pki")
    os.makedirs(d)
    ca = make_ca(d, "ca")
    other_ca = make_ca(d, "other")
    cert, key = make_cert(d, "ca", "node", "IP:127.0.0.1,DNS:localhost")
    wrong_cert, wrong_key = make_cert(d, "ca", "elsewhere", "IP:127.0.0.2")
    return {"ca": ca, "other_ca": other_ca, "cert": cert, "key": key,
            "wrong_cert": wrong_cert, "wrong_key": wrong_key}


def tls_flags(pki, cert="cert", key="key", ca="ca"):
    return [f"--ssl_cert={pki[cert]}", f"--ssl_key={pki[key]}", f"--ssl_ca={pki[ca]}"]


def slaves(m, pki):
    r = requests.get(f"https://127.0.0.1:{m.port}/master/state", verify=pki["ca"], timeout=5)
    return [s["hostname"] for s in r.json()["slaves"] if s["active"]]


def test_tls_cluster(cluster, pki):
    m = cluster.start_master(*tls_flags(pki))
    url = f"https://127.0.0.1:{m.port}"
    # Verified by a TLS client that knows the CA; plain HTTP gets nothing.
    assert requests.get(url + "/health", verify=pki["ca"], timeout=5).status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(url + "/health", verify=pki["other_ca"], timeout=5)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{m.port}/health", timeout=5)
    assert requests.get(url + "/health", verify=pki["ca"], timeout=5).status_code == 200

    # Slaves that do not trust the master's certificate never register: one
    # with another CA, one with plain HTTP. Started first, so they have had
    # their chance by the time the good one registers.
    cluster.add_slave(*tls_flags(pki, ca="other_ca"))
    cluster.add_slave()
    cluster.add_slave(*tls_flags(pki), master=url)  # an https:// --master, TLS on
    wait_for(lambda: slaves(m, pki) == ["slave2"], 30, what="only the TLS slave that trusts "
             "the master's CA registered")

    # agora-batch over TLS, verifying the master.
    p = subprocess.run([os.path.join(BIN, "agora-batch"), f"--master={url}",
                        "--tasks=10", "--cmd=true", "--cpus=0.1", "--mem=16",
                        f"--ssl_ca={pki['ca']}", "--timeout=60secs"],
                       capture_output=True, timeout=90, start_new_session=True)
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()[-3000:]
    assert b"10 finished, 0 failed" in p.stdout
    assert slaves(m, pki) == ["slave2"]


def test_tls_host_name_checked(cluster, pki):
    # The master's certificate is for 127.0.0.2: a client connecting to
    # 127.0.0.1 must refuse it although the CA is right.
    m = cluster.start_master(*tls_flags(pki, cert="wrong_cert", key="wrong_key"))
    p = subprocess.run([os.path.join(BIN, "agora-batch"), f"--master=127.0.0.1:{m.port}",
                        "--tasks=1", "--cmd=true", f"--ssl_ca={pki['ca']}", "--timeout=5secs"],
                       capture_output=True, timeout=60, start_new_session=True)
    assert p.returncode != 0
    r = requests.get(f"https://127.0.0.1:{m.port}/health", verify=False, timeout=5)
    assert r.status_code == 200  # it is serving; only the name is wrong


def test_tls_flags_checked(tmp_path, pki):
    for args, want in [([f"--ssl_cert={pki['cert']}"], b"--ssl_key"),
                       (["--ssl_require"], b"--ssl_require"),
                       ([f"--ssl_cert={pki['key']}", f"--ssl_key={pki['key']}"], b"--ssl_cert"),
                       ([f"--ssl_cert={pki['cert']}", f"--ssl_key={pki['wrong_key']}"],
                        b"--ssl_key")]:
        p = subprocess.run([os.path.join(BIN, "agora-master"), "--port=0",
                            f"--work_dir={tmp_path}", *args], capture_output=True, timeout=10)
        assert p.returncode != 0 and want in p.stderr, (args, p.stderr)


def test_tls_pacer_and_pacer_lb(pacer_cluster, pki, tmp_path):
    """Pacer and pacer-lb with TLS on: master, slave and Pacer serve TLS
    only; Pacer subscribes to the master verifying it; Debian's
    python3-marathon deploys over https with the test CA; pacer-lb reads
    Pacer over https, verifying it, and routes the app through HAProxy; a
    pacer-lb that does not trust Pacer's certificate routes nothing and
    says why."""
    marathon = pytest.importorskip("marathon")
    from test_pacer_lb import get_ok, running_lb
    c = pacer_cluster
    m = c.start_master(*tls_flags(pki), "--allocation_interval=100ms")
    c.add_slave(*tls_flags(pki))
    wait_for(lambda: slaves(m, pki) == ["slave0"], 30, what="the TLS slave registered")
    c.scheme, c.verify = "https", pki["ca"]
    c.start_pacer(*tls_flags(pki))
    url = c.pacer.url
    assert url.startswith("https://")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{c.pacer.port}/v2/info", timeout=5)
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(url + "/v2/info", verify=pki["other_ca"], timeout=5)

    client = marathon.MarathonClient(url, verify=pki["ca"])
    client.create_app("web", marathon.MarathonApp(
        cmd="exec /usr/bin/python3 -m http.server $PORT0 --bind 127.0.0.1", cpus=0.1, mem=32,
        instances=1, port_definitions=[{"port": 0}]))
    app = c.wait_app("/web", running=1, timeout=60)
    sp = app["portDefinitions"][0]["port"]

    with running_lb([c.pacer.port], tmp_path / "bad", [f"--ssl_ca={pki['other_ca']}"],
                    scheme="https") as bad:
        wait_for(lambda: "certificate" in bad.log(), 20,
                 what="pacer-lb with the wrong CA saying why it cannot read Pacer")
        assert not os.path.exists(bad.cfg) or "web" not in open(bad.cfg).read()
    with running_lb([c.pacer.port], tmp_path / "good", [f"--ssl_ca={pki['ca']}"],
                    scheme="https"):
        wait_for(lambda: get_ok(sp), 30, interval=0.2, what="/web through pacer-lb over TLS")

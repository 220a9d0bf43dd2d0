"""Harness for Pacer's system tests: a real master, real slaves and a real
agora-pacer, talked to over its Marathon v2 REST API.

PacerCluster extends the plain Cluster with start_pacer(); helpers wait,
with deadlines, for deployments to finish and for apps to reach a count
of running / healthy tasks.
"""
import os
import time

import requests

from agora_harness import Cluster, Daemon, HACluster, wait_for


class PacerMixin:
    """Slaves here all run on 127.0.0.1: each gets its own port range, so
    that two tasks never bind the same host port. The ranges stay below
    Linux's ephemeral range (32768-60999), where the harness's daemons and
    every outgoing connection take their ports: a task given a port some
    client holds fails with "Address already in use"."""
    pacer = None

    def add_slave(self, *args, resources=None, **kw):
        if resources is None:
            lo = 24000 + 1000 * len(self.slaves)
            resources = f"cpus:4;mem:4096;disk:10000;ports:[{lo}-{lo + 999}]"
        return super().add_slave(*args, resources=resources, **kw)

    def start_pacer(self, *args, master=None):
        master = master or getattr(self, "zk_url", None) or f"127.0.0.1:{self.master.port}"
        if self.pacer is None:
            self.pacer = Daemon("agora-pacer", os.path.join(self.tmp, "pacer"),
                                [f"--master={master}", "--reconciliation_interval=600secs",
                                 "--decline_offer_duration=5secs"] + list(args))
            self.pacer.scheme = self.scheme
        self.pacer.start()
        wait_for(lambda: self.get("/v2/info").json()["frameworkId"], 20,
                 what="pacer subscribed")
        return self.pacer

    def start_pacers(self, n, zk_url, *args, master=None):
        """n Pacer instances in a quorum on zk_url; self.pacer becomes the
        leader."""
        master = master or getattr(self, "zk_url", None) or f"127.0.0.1:{self.master.port}"
        self.pacers = []
        for i in range(n):
            d = Daemon("agora-pacer", os.path.join(self.tmp, f"pacer{i}"),
                       [f"--master={master}", f"--zk={zk_url}", "--zk_session_timeout=2secs",
                        "--decline_offer_duration=5secs"] + list(args))
            self.pacers.append(d.start())
        return self.wait_pacer_leader()

    def pacer_leader_of(self, d):
        r = requests.get(d.url + "/v2/leader", timeout=5)
        return r.json()["leader"] if r.status_code == 200 else None

    def wait_pacer_leader(self, exclude=None, timeout=30):
        """One leader every live instance agrees on, subscribed; it becomes
        self.pacer."""
        def one():
            live = [d for d in self.pacers if d.alive()]
            seen = {self.pacer_leader_of(d) for d in live}
            if len(seen) != 1 or None in seen:
                return None
            hp = seen.pop()
            lead = [d for d in live if hp.endswith(f":{d.port}")]
            if not lead or lead[0] is exclude:
                return None
            info = requests.get(lead[0].url + "/v2/info", timeout=5).json()
            return lead[0] if info.get("elected") and info.get("frameworkId") else None
        self.pacer = wait_for(one, timeout, what="one agreed Pacer leader")
        return self.pacer

    @property
    def url(self):
        return self.pacer.url

    def framework_id(self):
        return self.get("/v2/info").json()["frameworkId"]

    pacers = ()

    def daemons(self):
        extra = list(self.pacers) or ([self.pacer] if self.pacer else [])
        return super().daemons() + extra

    def shutdown(self):
        for d in list(self.pacers) or ([self.pacer] if self.pacer else []):
            d.stop()
        super().shutdown()

    # ------------------------------------------------------------ REST
    # (user, password) sent with every call below, for a Pacer started
    # with --http_credentials.
    auth = None
    # With TLS (--ssl_cert): the scheme of Pacer's URL and the CA file
    # requests verifies it with.
    scheme = "http"
    verify = True

    def _kw(self, kw):
        kw.setdefault("timeout", 10)
        kw.setdefault("auth", self.auth)
        kw.setdefault("verify", self.verify)
        return kw

    def get(self, path, **kw):
        return requests.get(self.url + path, **self._kw(kw))

    def post(self, path, body=None, **kw):
        return requests.post(self.url + path, json=body, **self._kw(kw))

    def put(self, path, body=None, **kw):
        return requests.put(self.url + path, json=body, **self._kw(kw))

    def patch_json(self, path, body=None, **kw):
        return requests.patch(self.url + path, json=body, **self._kw(kw))

    def delete(self, path, **kw):
        return requests.delete(self.url + path, **self._kw(kw))

    def app(self, app_id):
        r = self.get(f"/v2/apps{app_id}")
        r.raise_for_status()
        return r.json()["app"]

    def wait_deployments(self, timeout=60):
        return wait_for(lambda: self.get("/v2/deployments").json() == [], timeout,
                        what="no deployment left")

    def wait_app(self, app_id, running=None, healthy=None, timeout=60):
        def ok():
            a = self.app(app_id)
            if running is not None and a["tasksRunning"] != running:
                return False
            if healthy is not None and a["tasksHealthy"] != healthy:
                return False
            return a
        return wait_for(ok, timeout,
                        what=f"{app_id} with running={running} healthy={healthy}")


class PacerCluster(PacerMixin, Cluster):
    """A standalone master, slaves and Pacer."""


class PacerHACluster(PacerMixin, HACluster):
    """Masters elected through ZooKeeper, slaves and Pacer following the
    leader there."""

"""System tests of agora-pacer: real master, real slaves, real Pacer,
driven over its Marathon v2 REST API with requests."""
import time

import pytest
import requests

from agora_harness import wait_for

HTTP_CMD = "exec /usr/bin/python3 -m http.server $PORT0 --bind 127.0.0.1"




def test_process_app_create_scale_restart_delete(pc):
    r = pc.post("/v2/apps", {"id": "sleeper", "cmd": "sleep 1000", "cpus": 0.1, "mem": 32,
                             "instances": 2})
    assert r.status_code == 201, r.text
    assert r.headers["Location"].endswith("/v2/apps/sleeper")
    assert r.headers["Marathon-Deployment-Id"]
    body = r.json()
    assert body["id"] == "/sleeper" and body["instances"] == 2
    pc.wait_app("/sleeper", running=2)
    pc.wait_deployments()
    first = {t["id"] for t in pc.get("/v2/apps/sleeper/tasks").json()["tasks"]}
    assert len(first) == 2

    # scale: the two running tasks stay, one more comes
    r = pc.put("/v2/apps/sleeper", {"instances": 3})
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"deploymentId", "version"}
    pc.wait_app("/sleeper", running=3)
    pc.wait_deployments()
    now = {t["id"] for t in pc.get("/v2/apps/sleeper/tasks").json()["tasks"]}
    assert first <= now

    # restart: three new tasks replace the old ones
    r = pc.post("/v2/apps/sleeper/restart")
    assert r.status_code == 200, r.text
    pc.wait_deployments()
    after = {t["id"] for t in pc.get("/v2/apps/sleeper/tasks").json()["tasks"]}
    assert len(after) == 3 and not (after & now)
    assert len(pc.get("/v2/apps/sleeper/versions").json()["versions"]) == 3

    # delete: gone from the API at once, its tasks killed
    r = pc.delete("/v2/apps/sleeper")
    assert r.status_code == 200, r.text
    assert pc.get("/v2/apps/sleeper").status_code == 404
    pc.wait_deployments()
    wait_for(lambda: not any(t["state"] == "TASK_RUNNING" for f in pc.state()["frameworks"]
                             for t in f["tasks"]), 20, what="all tasks ended")


def test_health_checked_http_app_reached_on_loopback(pc):
    r = pc.post("/v2/apps", {
        "id": "/web/http", "cmd": HTTP_CMD, "cpus": 0.1, "mem": 64, "instances": 2,
        "portDefinitions": [{"port": 0, "name": "http"}],
        "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0,
                          "gracePeriodSeconds": 10, "intervalSeconds": 1,
                          "timeoutSeconds": 2, "maxConsecutiveFailures": 3,
                          "delaySeconds": 0}]})
    assert r.status_code == 201, r.text
    app = pc.wait_app("/web/http", running=2, healthy=2, timeout=60)
    pc.wait_deployments()
    tasks = pc.get("/v2/apps/web/http/tasks").json()["tasks"]
    assert len(tasks) == 2
    for t in tasks:
        assert t["healthCheckResults"][0]["alive"] is True
        r = requests.get(f"http://127.0.0.1:{t['ports'][0]}/", timeout=5)
        assert r.status_code == 200
    # Lists are written without jansson (render_task_buf): the same JSON
    # as the single-app answer, which is built with it.
    listed = [a for a in pc.get("/v2/apps?embed=apps.tasks").json()["apps"]
              if a["id"] == "/web/http"][0]
    by_id = {t["id"]: t for t in pc.get("/v2/apps/web/http").json()["app"]["tasks"]}
    assert {t["id"]: t for t in listed["tasks"]} == by_id
    assert {t["id"]: t for t in pc.get("/v2/tasks").json()["tasks"]
            if t["appId"] == "/web/http"} == by_id
    assert {k: v for k, v in listed.items() if k != "tasks"} == \
        {k: v for k, v in pc.app("/web/http").items()
         if k not in ("tasks", "lastTaskFailure", "taskStats", "readinessCheckResults")}
    sp = app["portDefinitions"][0]["port"]
    assert 10000 <= sp <= 20000
    txt = pc.get("/v2/tasks", headers={"Accept": "text/plain"}).text
    line = [l for l in txt.splitlines() if l.startswith("web_http\t")][0]
    fields = line.rstrip("\t").split("\t")
    assert fields[1] == str(sp) and len(fields) == 4


def test_docker_bridge_app_with_health_check(pacer_cluster, docker_env):
    from docker_env import IMAGE
    pc = pacer_cluster
    pc.start_master("--allocation_interval=100ms")
    pc.add_slave("--containerizers=docker,process", "--docker_publish_ip=127.0.0.1",
                 "--executor_shutdown_grace_period=1secs")
    pc.wait_slaves(1)
    pc.start_pacer()
    sid = pc.state()["slaves"][0]["id"]
    try:
        r = pc.post("/v2/apps", {
            "id": "/dweb", "cmd": "exec httpd -f -v -p 80 -h /www", "cpus": 0.1, "mem": 32,
            "instances": 1,
            "container": {"type": "DOCKER", "docker": {"image": IMAGE},
                          "portMappings": [{"containerPort": 80, "hostPort": 0,
                                            "protocol": "tcp"}]},
            "networks": [{"mode": "container/bridge"}],
            "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/index.html", "portIndex": 0,
                              "gracePeriodSeconds": 20, "intervalSeconds": 1,
                              "delaySeconds": 0, "timeoutSeconds": 2}]})
        assert r.status_code == 201, r.text
        pc.wait_app("/dweb", running=1, healthy=1, timeout=90)
        pc.wait_deployments()
        t = pc.get("/v2/apps/dweb/tasks").json()["tasks"][0]
        r = requests.get(f"http://127.0.0.1:{t['ports'][0]}/index.html", timeout=5)
        assert r.status_code == 200 and r.text == "hello from agora\n"
        assert pc.put("/v2/apps/dweb", {"instances": 2}).status_code == 200
        pc.wait_app("/dweb", running=2, healthy=2, timeout=90)
        ports = {t["ports"][0] for t in pc.get("/v2/apps/dweb/tasks").json()["tasks"]}
        assert len(ports) == 2
        for port in ports:
            assert requests.get(f"http://127.0.0.1:{port}/index.html", timeout=5).ok
        assert pc.delete("/v2/apps/dweb").status_code == 200
        pc.wait_deployments(timeout=60)
        wait_for(lambda: not docker_env.containers("agora.slave_id=" + sid), 30,
                 what="the app's containers removed")
    finally:
        pc.shutdown()
        docker_env.remove_labelled("agora.slave_id=" + sid)


def test_info_leader_ping_metrics(pc):
    info = pc.get("/v2/info").json()
    assert info["name"] == "pacer" and info["elected"] is True
    assert info["leader"] == f"127.0.0.1:{pc.pacer.port}"
    assert info["frameworkId"] == pc.state()["frameworks"][0]["id"]
    for key in ("marathon_config", "zookeeper_config", "http_config", "event_subscriber"):
        assert isinstance(info[key], dict), key
    assert info["marathon_config"]["local_port_min"] == 10000
    assert pc.get("/v2/leader").json() == {"leader": f"127.0.0.1:{pc.pacer.port}"}
    r = pc.get("/ping")
    assert r.status_code == 200 and r.text.strip() == "pong"
    assert pc.post("/v2/apps", {"id": "/m", "cmd": "sleep 1000", "cpus": 0.05, "mem": 16,
                                "instances": 2}).status_code == 201
    pc.wait_app("/m", running=2)
    pc.wait_deployments()
    text = pc.get("/metrics").text
    values = {l.split()[0]: float(l.split()[1]) for l in text.splitlines()
              if l and not l.startswith("#")}
    assert values["agora_pacer_apps"] == 1
    assert values["agora_pacer_instances"] == 2
    assert values["agora_pacer_tasks_launched_total"] >= 2
    assert values["agora_pacer_deployments_finished_total"] >= 1
    assert pc.get("/health").status_code == 200

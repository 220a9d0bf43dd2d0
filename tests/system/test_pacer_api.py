"""Pacer's REST API beyond single apps: groups, versions and their
restore, deployment rollback and forced stop, dependencies, bulk PUT."""
from agora_harness import wait_for

SLEEP = {"cmd": "sleep 1000", "cpus": 0.05, "mem": 16, "portDefinitions": []}
# Never healthy (nothing listens on the port): keeps a deployment open.
STUCK_HC = [{"protocol": "TCP", "portIndex": 0, "gracePeriodSeconds": 300,
             "intervalSeconds": 1, "delaySeconds": 0}]


def app(app_id, **kw):
    d = dict(SLEEP, id=app_id)
    d.update(kw)
    return d


def test_groups_create_get_scale_delete(pc):
    r = pc.post("/v2/groups", {"id": "/prod", "apps": [app("web", instances=1)],
                               "groups": [{"id": "db", "apps": [app("pg", instances=1)]}]})
    assert r.status_code == 201, r.text
    assert set(r.json()) == {"deploymentId", "version"}
    pc.wait_deployments()
    root = pc.get("/v2/groups").json()
    assert root["id"] == "/"
    prod = [g for g in root["groups"] if g["id"] == "/prod"][0]
    assert [a["id"] for a in prod["apps"]] == ["/prod/web"]
    assert [g["id"] for g in prod["groups"]] == ["/prod/db"]
    assert pc.get("/v2/groups/prod/db").json()["apps"][0]["id"] == "/prod/db/pg"
    assert pc.get("/v2/groups/nope").status_code == 404
    assert pc.post("/v2/groups", {"id": "/prod"}).status_code == 409
    r = pc.put("/v2/groups/prod", {"scaleBy": 2})
    assert r.status_code == 200, r.text
    pc.wait_deployments()
    assert pc.app("/prod/web")["instances"] == 2 and pc.app("/prod/db/pg")["instances"] == 2
    wait_for(lambda: pc.app("/prod/db/pg")["tasksRunning"] == 2, 20, what="scaled")
    assert pc.delete("/v2/groups/prod").status_code == 200
    pc.wait_deployments()
    assert pc.get("/v2/apps/prod/web").status_code == 404
    assert pc.get("/v2/groups/prod").status_code == 404


def test_versions_listed_and_an_old_one_restored(pc):
    assert pc.post("/v2/apps", app("/v", instances=1, cmd="sleep 1001")).status_code == 201
    pc.wait_deployments()
    v1 = pc.app("/v")["version"]
    assert pc.put("/v2/apps/v", {"cmd": "sleep 1002"}).status_code == 200
    pc.wait_deployments()
    versions = pc.get("/v2/apps/v/versions").json()["versions"]
    assert len(versions) == 2 and versions[-1] == v1
    old = pc.get(f"/v2/apps/v/versions/{v1}").json()
    assert old["cmd"] == "sleep 1001" and old["version"] == v1
    assert pc.get("/v2/apps/v/versions/2000-01-01T00:00:00.000Z").status_code == 404
    r = pc.put("/v2/apps/v", {"version": v1})
    assert r.status_code == 200, r.text
    pc.wait_deployments()
    a = pc.app("/v")
    assert a["cmd"] == "sleep 1001" and a["version"] != v1
    assert len(pc.get("/v2/apps/v/versions").json()["versions"]) == 3


def test_deployment_rollback_and_forced_stop(pc):
    stuck = app("/s", instances=1, portDefinitions=[{"port": 0}], healthChecks=STUCK_HC)
    assert pc.post("/v2/apps", stuck).status_code == 201
    dep = wait_for(lambda: pc.get("/v2/deployments").json(), 10, what="a deployment")[0]
    assert dep["affectedApps"] == ["/s"] and dep["totalSteps"] == 2
    assert set(dep) >= {"id", "version", "affectedApps", "affectedPods", "steps",
                        "currentActions", "currentStep", "totalSteps"}
    detail = pc.get(f"/v2/deployments/{dep['id']}").json()
    assert "/s" in detail["waitingFor"]
    # Rollback of a creation: a new deployment that removes the app.
    r = pc.delete(f"/v2/deployments/{dep['id']}")
    assert r.status_code == 200, r.text
    pc.wait_deployments()
    assert pc.get("/v2/apps/s").status_code == 404

    assert pc.post("/v2/apps", stuck).status_code == 201
    dep = wait_for(lambda: pc.get("/v2/deployments").json(), 10, what="a deployment")[0]
    r = pc.delete(f"/v2/deployments/{dep['id']}?force=true")
    assert r.status_code == 202, r.text
    assert pc.get("/v2/deployments").json() == []
    assert pc.get("/v2/apps/s").status_code == 200  # stopped where it was
    assert pc.delete("/v2/deployments/unknown").status_code == 404


def test_dependencies_order_the_steps(pc):
    r = pc.put("/v2/apps", [app("/stack/web", instances=1, dependencies=["/stack/db"]),
                            app("/stack/db", instances=1)])
    assert r.status_code == 200, r.text
    dep = [d for d in pc.get("/v2/deployments").json() if d["id"] == r.json()["deploymentId"]]
    if dep:  # it may already be done
        steps = [[a["app"] for a in s["actions"]] for s in dep[0]["steps"]]
        flat = [a for s in steps for a in s]
        assert flat.index("/stack/db") < flat.index("/stack/web"), steps
    pc.wait_deployments()
    web = pc.get("/v2/apps/stack/web").json()["app"]["tasks"][0]
    db = pc.get("/v2/apps/stack/db").json()["app"]["tasks"][0]
    assert db["startedAt"] <= web["startedAt"]


def test_patch_partial_put_and_full_put(pc):
    assert pc.post("/v2/apps", app("/p", instances=1, labels={"a": "1"})).status_code == 201
    pc.wait_deployments()
    assert pc.patch_json("/v2/apps/p", {"labels": {"b": "2"}}).status_code == 200
    pc.wait_deployments()
    a = pc.app("/p")
    assert a["labels"] == {"b": "2"} and a["cmd"] == "sleep 1000"
    r = pc.put("/v2/apps/p?partialUpdate=false", {"cmd": "sleep 999"})
    assert r.status_code == 200, r.text
    pc.wait_deployments()
    a = pc.app("/p")
    assert a["cmd"] == "sleep 999" and a["mem"] == 128 and a["labels"] == {}
    assert pc.patch_json("/v2/apps/nope", {"cmd": "x"}).status_code == 404
    assert pc.get("/v2/apps?label=b==2").json()["apps"] == []
    assert [x["id"] for x in pc.get("/v2/apps?cmd=999").json()["apps"]] == ["/p"]

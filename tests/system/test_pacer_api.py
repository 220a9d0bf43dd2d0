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


def test_hostile_inputs_keep_pacer_serving(pc):
    # PUT of the root group, then GET of the tree (was endless recursion).
    assert pc.put("/v2/groups", {"apps": []}).status_code in (200, 201)
    assert pc.get("/v2/groups").status_code == 200
    # A dependency cycle among four apps (was exponential plan building).
    apps = [app(f"/cyc/{n}", instances=0,
                dependencies=[f"/cyc/{m}" for m in "abcd" if m != n]) for n in "abcd"]
    r = pc.post("/v2/groups", {"id": "/cyc", "apps": [dict(a, id=a["id"].split("/")[-1])
                                                        for a in apps]})
    assert r.status_code in (201, 422), r.text
    assert pc.get("/ping", timeout=5).status_code == 200
    # An absurd instance count must not take Pacer down at the next offer.
    r = pc.post("/v2/apps", app("/huge", instances=2147483647))
    assert r.status_code == 201, r.text
    wait_for(lambda: pc.app("/huge")["tasksRunning"] > 10, 20, what="some instances")
    assert pc.get("/ping").status_code == 200
    assert pc.delete("/v2/apps/huge").status_code == 200
    # scaleBy beyond any count is refused, nothing killed.
    assert pc.post("/v2/apps", app("/sc/x", instances=1)).status_code == 201
    pc.wait_app("/sc/x", running=1)
    assert pc.put("/v2/groups/sc", {"scaleBy": 1e10}).status_code == 422
    assert pc.app("/sc/x")["instances"] == 1
    # One answer per request, even when two checks fail.
    r = pc.put("/v2/apps/nope?force=maybe", {"version": "2020-01-01T00:00:00.000Z"})
    assert r.status_code == 400
    assert pc.get("/ping").status_code == 200
    # PUT /v2/apps/{id}: the URL's id wins over the body's.
    r = pc.put("/v2/apps/url/wins", app("/body/id", instances=0))
    assert r.status_code == 201, r.text
    assert r.headers["Location"].endswith("/v2/apps/url/wins")
    assert pc.get("/v2/apps/url/wins").status_code == 200
    assert pc.get("/v2/apps/body/id").status_code == 404


def test_kill_all_hosts_and_bulk_delete(pc):
    assert pc.post("/v2/apps", app("/bulk/a", instances=2)).status_code == 201
    assert pc.post("/v2/apps", app("/bulk/b", instances=2)).status_code == 201
    pc.wait_app("/bulk/a", running=2)
    pc.wait_app("/bulk/b", running=2)
    pc.wait_deployments()
    r = pc.delete("/v2/apps/bulk/a/tasks?host=*")
    assert r.status_code == 200 and len(r.json()["tasks"]) == 2, r.text
    killed = {t["id"] for t in r.json()["tasks"]}
    wait_for(lambda: [t for t in pc.get("/v2/apps/bulk/a/tasks").json()["tasks"]
                      if t["state"] == "TASK_RUNNING" and t["id"] not in killed] and
             len(pc.get("/v2/apps/bulk/a/tasks").json()["tasks"]) == 2, 20,
             what="two replacements, the killed ones gone")
    ids = [t["id"] for t in pc.get("/v2/apps/bulk/a/tasks").json()["tasks"]][:1] + \
          [t["id"] for t in pc.get("/v2/apps/bulk/b/tasks").json()["tasks"]][:1]
    r = pc.post("/v2/tasks/delete?scale=true", {"ids": ids})
    assert r.status_code == 200 and set(r.json()) == {"deploymentId", "version"}, r.text
    pc.wait_deployments()
    assert pc.app("/bulk/a")["instances"] == 1 and pc.app("/bulk/b")["instances"] == 1
    keep = pc.get("/v2/apps/bulk/b/tasks").json()["tasks"][0]["id"]
    r = pc.post("/v2/tasks/delete", {"ids": [keep]})
    assert r.status_code == 200 and [t["id"] for t in r.json()["tasks"]] == [keep]

# Runs statements in one chDB session (current ClickHouse in-process) and
# prints what each did, as JSON: pkg/chdbcheck's Run sends
# {"database": ..., "statements": [{"name", "sql", "query"}]} on stdin and
# reads {"version", "outcomes": [{"name", "error", "rows", "columns", "first", "data"}]}.
# One process for all statements: importing chDB takes most of a second.
import json
import sys
import tempfile

from chdb import session

request = json.load(sys.stdin)
outcomes = []
with tempfile.TemporaryDirectory(prefix="pixel-chdb-") as path:
    s = session.Session(path)
    db = request["database"]
    s.query("CREATE DATABASE IF NOT EXISTS " + db)
    s.query("USE " + db)
    version = s.query("SELECT version()", "CSV").bytes().decode().strip().strip('"')
    for st in request["statements"]:
        o = {"name": st["name"], "error": "", "rows": 0, "columns": [], "first": None, "data": []}
        try:
            if st["query"]:
                r = json.loads(s.query(st["sql"], "JSONCompact").bytes())
                o["rows"] = r["rows"]
                o["columns"] = [m["name"] + " " + m["type"] for m in r["meta"]]
                o["data"] = r["data"]
                if r["data"] and r["data"][0]:
                    o["first"] = r["data"][0][0]
            else:
                s.query(st["sql"])
        except Exception as e:  # a statement's error is its outcome
            o["error"] = str(e).strip() or repr(e)
        outcomes.append(o)
    s.close()
json.dump({"version": version, "outcomes": outcomes}, sys.stdout)

"""The docs' generated tables agree with the committed CSVs they are generated from."""
import os
import runpy

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
results_doc = runpy.run_path(os.path.join(HERE, "tools", "results_doc.py"))


def test_every_generated_table_matches_its_csv():
    pages = results_doc["stale"]()
    assert not pages, (
        f"out of date: {', '.join(os.path.relpath(p, HERE) for p in pages)}; run python tools/results_doc.py"
    )


def test_a_changed_csv_is_caught(tmp_path):
    """The check reads the CSV: a table whose CSV row changes no longer matches."""
    csv_path = tmp_path / "r.csv"
    csv_path.write_text("run,best dev,status,reason\na,0.5,done,\n")
    spec = f"{csv_path} | run, best dev"
    page = f"<!-- table: {spec} -->\n{results_doc['table'](spec)}\n<!-- end table -->\n"
    assert results_doc["render"](page) == page and "| a | 0.5 |" in page
    csv_path.write_text("run,best dev,status,reason\na,0.6,done,\n")
    assert results_doc["render"](page) != page

"""The notebook-suite runner writes executed notebooks and interactive HTML atomically."""
import nbformat
import pytest

from m3lrn_lib.course import suite


def _notebook(path, code):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# tiny"), nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_run_notebook_exports_interactive_html(tmp_path):
    src = _notebook(tmp_path / "01_tiny.ipynb", "from m3lrn_lib import viz\nimport plotly.graph_objects as go\n"
                    "viz.setup_notebook()\ngo.Figure(go.Scatter3d(x=[1, 2], y=[3, 4], z=[5, 6]))")
    out = tmp_path / "build"
    suite.run_notebook(src, out)
    executed = nbformat.read(out / "notebooks" / "01_tiny.ipynb", as_version=4)
    assert executed.cells[1].outputs, "the code cell was not executed"
    html = (out / "html" / "01_tiny.html").read_text()
    assert "scatter3d" in html and "Plotly.newPlot" in html  # the figure data and plotly.js are embedded
    assert not list((out / "html").glob(".tmp-*"))


def test_failing_notebook_raises(tmp_path):
    src = _notebook(tmp_path / "02_bad.ipynb", "raise RuntimeError('boom')")
    with pytest.raises(Exception, match="boom"):
        suite.run_notebook(src, tmp_path / "build")
    assert not (tmp_path / "build" / "html" / "02_bad.html").exists()


def test_html_without_plot_data_is_refused():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("fig")
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        suite.PLOTLY_MIME: {"data": [{"type": "mesh3d", "x": [0, 1, 0]}], "layout": {}}, "text/plain": "Figure"})]
    nb.cells = [cell]
    assert suite.plotly_traces(nb) == ["mesh3d"]
    with pytest.raises(ValueError, match="03_x.html: the Plotly figures are not interactive"):
        suite.check_html(nb, "<html>Figure</html>", "03_x")
    with pytest.raises(ValueError, match=r"no data for \['mesh3d'\]"):
        suite.check_html(nb, "<script>Plotly.newPlot('a', [{\"type\": \"scatter\"}])</script>", "03_x")
    assert suite.check_html(nb, "<script>Plotly.newPlot('a', [{\"type\": \"mesh3d\"}])</script>", "03_x") == 1

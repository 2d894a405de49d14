"""``motion4d view``: a viser viewer of a 4D result (lift result folder or pipeline run folder).

viser is an optional dependency (``pip install motion4d[app]``), imported only when a viewer starts.
:func:`load_view_data` (numpy only) gives what the viewer draws.
"""
from motion4d.view.data import Splats, ViewCamera, ViewData, load_view_data, splats_of
from motion4d.view.server import Viewer, export_html, serve

__all__ = ["Splats", "ViewCamera", "ViewData", "load_view_data", "splats_of", "Viewer", "serve", "export_html"]

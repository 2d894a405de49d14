"""The viser scene of a 4D result: one splat node per frame, shown one at a time, plus cameras and GUI.

Playback follows viser's record3d example: each frame is a node ``/frames/t{i}``, and the "Time" slider
toggles their visibility inside ``server.atomic()``. Splats are drawn in the browser (WebGL), so no
server-side renderer is needed. ``--export-html`` records the same scene with one visibility change per
frame and viser's ``insert_sleep``, then writes the recording with the viser client as one HTML file.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from motion4d.view.data import ViewCamera, ViewData, load_view_data

__all__ = ["Viewer", "serve", "export_html", "require_viser"]


def require_viser():
    try:
        import viser
    except ImportError:
        raise ImportError("motion4d view needs viser: pip install 'motion4d[app]'") from None
    return viser


def _wxyz(c2w: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z) of the rotation part of ``c2w``."""
    from scipy.spatial.transform import Rotation

    x, y, z, w = Rotation.from_matrix(np.asarray(c2w)[:3, :3]).as_quat()
    return np.array([w, x, y, z])


class Viewer:
    """A viser scene + GUI of :class:`~motion4d.view.data.ViewData` on ``server``.

    GUI: "Time" slider (frame index), "Play" checkbox, "Speed" (× the clip's fps), "Canonical" checkbox
    (the undeformed Gaussians instead of the frame), "Cameras" checkbox. The reference camera's frustum shows
    the reference frame at the current time.
    """

    def __init__(self, server, data: ViewData, *, gui: bool = True) -> None:
        self.server, self.data = server, data
        scene = server.scene
        scene.set_up_direction("+y")
        eye = np.asarray(data.reference_camera.c2w)[:3, 3]           # start behind the reference camera
        server.initial_camera.position = tuple(float(v) for v in eye * 1.6 + np.array([0.0, 0.8, 0.0]))
        server.initial_camera.look_at = (0.0, 0.0, 0.0)
        self.frames = [self._splats(f"/frames/t{i}", s, visible=(i == 0)) for i, s in enumerate(data.frames)]
        self.canonical = self._splats("/canonical", data.canonical, visible=False)
        ref = data.reference_camera
        self.reference = self._frustum("/cameras/reference", ref, (220, 60, 40),
                                       data.reference[0] if data.reference else None, scale=0.35)
        self.training = [self._frustum(f"/cameras/training/{i:03d}", c, (60, 90, 200), None, scale=0.15)
                         for i, c in enumerate(data.training_cameras)]
        self.index = 0
        self._stop = threading.Event()
        if gui:
            self._build_gui()

    # ------------------------------------------------------------------------------------ scene
    def _splats(self, name: str, s, visible: bool):
        return self.server.scene.add_gaussian_splats(name, centers=s.centers, covariances=s.covariances,
                                                     rgbs=s.rgbs, opacities=s.opacities, visible=visible)

    def _frustum(self, name: str, cam: ViewCamera, color, image, scale: float):
        return self.server.scene.add_camera_frustum(name, fov=cam.fov, aspect=cam.aspect, scale=scale, color=color,
                                                    image=image, wxyz=_wxyz(cam.c2w), position=cam.c2w[:3, 3])

    def show(self, index: int, canonical: bool | None = None) -> None:
        """Show frame ``index`` (or the canonical Gaussians) and that time's reference frame."""
        n = len(self.frames)
        self.index = int(index) % n
        canonical = self.canonical.visible if canonical is None else canonical
        with self.server.atomic():
            for i, h in enumerate(self.frames):
                h.visible = (i == self.index) and not canonical
            self.canonical.visible = canonical
            if self.data.reference:
                self.reference.image = self.data.reference[self.index]
        if hasattr(self, "ref_image") and self.data.reference:
            self.ref_image.image = self.data.reference[self.index]

    # -------------------------------------------------------------------------------------- GUI
    def _build_gui(self) -> None:
        gui, n = self.server.gui, len(self.frames)
        gui.add_markdown(f"**{Path(self.data.source).name}**: {n} frames, {len(self.data.canonical)} Gaussians")
        self.slider = gui.add_slider("Time", min=0, max=max(n - 1, 1), step=1, initial_value=0, disabled=n < 2)
        self.playing = gui.add_checkbox("Play", initial_value=False)
        self.speed = gui.add_slider("Speed", min=0.1, max=4.0, step=0.1, initial_value=1.0)
        self.canon = gui.add_checkbox("Canonical", initial_value=False)
        self.cams = gui.add_checkbox("Cameras", initial_value=True)
        if self.data.reference:
            self.ref_image = gui.add_image(self.data.reference[0], label="Reference frame")

        @self.slider.on_update
        def _(_event) -> None:
            self.show(int(self.slider.value), self.canon.value)

        @self.canon.on_update
        def _(_event) -> None:
            self.show(self.index, self.canon.value)

        @self.cams.on_update
        def _(_event) -> None:
            for h in [self.reference, *self.training]:
                h.visible = self.cams.value

        threading.Thread(target=self._play_loop, name="motion4d-view-play", daemon=True).start()

    def _play_loop(self) -> None:
        while not self._stop.is_set():
            if self.playing.value and len(self.frames) > 1:
                self.slider.value = (int(self.slider.value) + 1) % len(self.frames)   # fires on_update
            time.sleep(1.0 / max(self.data.fps * float(self.speed.value), 1e-3))

    def close(self) -> None:
        self._stop.set()


def _server(host: str, port: int):
    viser = require_viser()
    return viser.ViserServer(host=host, port=port, verbose=False)


def serve(run: str | Path, *, host: str = "127.0.0.1", port: int = 8080, max_gaussians: int = 50000,
          block: bool = True):
    """Serve the viewer of ``run``; with ``block=False`` returns ``(server, viewer)`` (call ``server.stop()``)."""
    data = load_view_data(run, max_gaussians=max_gaussians)
    server = _server(host, port)
    viewer = Viewer(server, data)
    if not block:
        return server, viewer
    print(f"motion4d view: http://{host}:{server.get_port()} (Ctrl-C to stop)")
    try:
        while True:
            time.sleep(1.0)
    finally:
        viewer.close()
        server.stop()


def export_html(run: str | Path, out: str | Path, *, max_gaussians: int = 50000, loops: int = 3) -> Path:
    """Write one self-contained HTML file that plays the 4D result ``loops`` times (viser client inlined)."""
    from motion4d.utils.io import atomic_path
    from motion4d.utils.run_dir import check_out_file

    out = check_out_file(out, "--export-html", suffixes=(".html",))
    data = load_view_data(run, max_gaussians=max_gaussians)
    server = _server("127.0.0.1", 0)
    try:
        serializer = server.get_scene_serializer()
        viewer = Viewer(server, data, gui=False)
        dt = 1.0 / data.fps
        for _ in range(max(loops, 1)):
            for i in range(len(data.frames)):
                viewer.show(i)
                serializer.insert_sleep(dt)
        html = serializer.as_html()
    finally:
        server.stop()
    with atomic_path(out) as tmp:
        tmp.write_text(html)
    return out

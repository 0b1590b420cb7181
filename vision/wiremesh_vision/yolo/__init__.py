# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""YOLO object detection: darknet models read (darknet) and converted to ONNX (to_onnx), models fetched and
checked (prepare, model_file), run by onnxruntime or PyTorch (engines, torch_graph), frames letterboxed and
outputs decoded in numpy (decode). The detector's `yolo` backend (backends.yolo) puts them together."""

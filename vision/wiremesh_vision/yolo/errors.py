# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The errors of the YOLO package; each message names the file or the engine and says why."""


class ModelError(ValueError):
    """A model, weights or labels file cannot be used; the message names the file and says why."""


class EngineUnavailable(RuntimeError):
    """An engine cannot run here (not installed, no GPU, a CUDA provider that did not load)."""

# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""GPU host facts and the NVIDIA driver decision, for the gpu_facts and nvidia_driver_plan modules.

Readers take ``root``, the directory that holds the host's ``sys`` and ``proc`` trees (``/`` on a real host, a
fixture tree in tests), and never write anything. Commands are run through ``run``, a callable with the
signature of ``AnsibleModule.run_command``. ``plan`` is pure: facts and wishes in, a decision out.
"""

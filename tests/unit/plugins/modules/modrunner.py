"""Run a module's main() in-process the way Ansible does (args in, JSON on stdout, SystemExit) with the
commands answered by a fake host."""

import json

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


def run_module(module, args, capsys, monkeypatch, fake, check=False, diff=False):
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, cmd, **kw: fake(cmd, **kw))
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path",
                        lambda self, name, required=False, opt_dirs=None: "/usr/bin/" + name)
    args = dict(args)
    if check:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    capsys.readouterr()
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            module.main()
    out = capsys.readouterr().out
    return exc.value.code, json.loads(out), out

"""WizardState, the wizard's typed answers: kept per section, a reconfigure's start, the Choices they add up to."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from installer import defaults
from installer.model import Auth, Choices, Exposure, Extras, Storage, Target, Uploads, User
from screens.state import ClusterChoice, RenderedFiles, StorageChoice, WizardState

ROOT = Path(__file__).resolve().parents[2]


def test_an_answer_is_kept_under_its_section():
    state = WizardState()
    exposure = Exposure(hosts=["registry.example.com"])
    state.keep("exposure", exposure)
    state.keep("uploads", Uploads(max_body_size="0"))
    assert state.exposure is exposure and state.uploads.max_body_size == "0"


def test_answers_that_fill_several_sections_say_which():
    state = WizardState()
    storage, extras = Storage(), Extras(replicas=2)
    state.keep(None, StorageChoice(storage, extras))
    assert state.storage is storage and state.extras.replicas == 2
    state.keep(None, ClusterChoice(Target(namespace="reg", release="r1"), offline=True))
    assert (state.target.namespace, state.target.release) == ("reg", "r1")
    state.keep("prepared", RenderedFiles(prepared="p", paths=(Path("/x/values.yaml"),)))  # type: ignore[arg-type]
    assert state.prepared == "p" and state.written == (Path("/x/values.yaml"),)


def test_a_section_that_does_not_exist_is_refused():
    with pytest.raises(KeyError, match="no section 'expo'"):
        WizardState().keep("expo", Exposure(hosts=["r.example.com"]))


def test_choices_fill_unvisited_sections_with_defaults():
    state = WizardState(exposure=Exposure(hosts=["r.example.com"]))
    choices = state.choices()
    assert choices.auth == Auth() and choices.storage == Choices.field_default("storage")
    assert choices.exposure.hosts == ["r.example.com"]


def test_before_the_cluster_step_answers_the_target_is_the_models_default():
    """WizardState makes no model before the first frame: no target yet, `chosen_target` gives Target's defaults
    (the Cluster screen shows installer.defaults, which Target's fields use), and the Choices get them too."""
    state = WizardState(exposure=Exposure(hosts=["r.example.com"]))
    assert state.target is None and state.extras is None
    assert state.chosen_target == Target() == Target(namespace=defaults.NAMESPACE, release=defaults.RELEASE)
    assert state.choices().target == Target() and state.choices().extras == Extras()
    state.keep(None, ClusterChoice(Target(namespace="reg"), offline=False))
    assert state.chosen_target is state.target and state.choices().target.namespace == "reg"


def test_choices_need_the_address():
    with pytest.raises(ValueError, match="Address step"):
        WizardState().choices()


def test_a_reconfigure_starts_from_the_installed_settings_once():
    installed = Choices(
        exposure=Exposure(hosts=["old.example.com"]),
        auth=Auth(users=[User(name="ci", password="keep")]),
        storage={"filesystem": {"access_mode": "ReadWriteMany"}},
        extras=Extras(replicas=3),
    )
    state = WizardState()
    state.start_from(installed)
    assert state.reconfiguring
    assert state.exposure.hosts == ["old.example.com"] and [u.name for u in state.auth.users] == ["ci"]
    assert state.extras.replicas == 3 and state.clients == installed.clients
    assert state.choices().auth.users[0].password.kind == "keep"


def test_via_gateway_follows_the_address():
    state = WizardState(exposure=Exposure(hosts=["r.example.com"]))
    assert not state.via_gateway
    state.exposure = Exposure(
        hosts=["r.example.com"],
        gateway={"name": "gw", "namespace": "infra", "listener": "https"},
        tls={"mode": "listener"},
    )
    assert state.via_gateway


def test_the_state_module_loads_without_textual():
    code = "import sys, screens.state; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_step_bar_fits_80_columns_with_every_step():
    """12 steps (Status and Clients included) at 80x24 (78 columns inside the bar's padding): one line, no name cut;
    the current step and both its neighbours shown, the hidden steps counted at the ends ("◂+2", "+2▸")."""
    from textual.content import Content

    from screens.base import StepBar

    labels = "Cluster Probe Status Address Access Storage Clients Uploads Review Install Smoke Done".split()
    for current in range(len(labels)):
        plain = Content.from_markup(StepBar._markup(labels, current, set(), width=78)).plain
        assert len(plain) <= 78, plain
        parts = [part.strip() for part in plain.split("·")]
        before = int(parts.pop(0)[2:]) if parts[0].startswith("◂+") else 0
        after = int(parts.pop()[1:-1]) if parts[-1].endswith("▸") else 0
        assert parts == labels[before : len(labels) - after], plain  # the names shown are whole and in order
        assert set(labels[max(current - 1, 0) : current + 2]) <= set(parts), plain
    # 10 steps fit whole, the current one with a space either side
    plain = Content.from_markup(StepBar._markup(labels[:10], 6, set(), width=78)).plain
    assert plain.split("·") == [*labels[:6], " Clients ", *labels[7:10]]


def test_the_usual_steps_show_every_name_in_full_at_80_columns():
    """The 11 steps of a first install at 80x24 (78 columns inside the bar's padding): no name cut ("Smo·Don")."""
    from textual.content import Content

    from screens.base import StepBar

    labels = "Cluster Probe Address Access Storage Clients Uploads Review Install Smoke Done".split()
    for current in range(len(labels)):
        plain = Content.from_markup(StepBar._markup(labels, current, set(), width=78)).plain
        assert plain == "·".join(labels), plain

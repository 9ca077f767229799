"""Set-up of the libvirt end-to-end suite (run it with tests/interop/libvirt/run.sh).

run.sh starts a private libvirtd and passes it here through the environment:

- ``HVB_LIBVIRT_URI``: libvirtd's URI (without it every test here is skipped: ``make test``
  does not start libvirt);
- ``HVB_LIBVIRT_EMULATOR``: ``qemu`` or ``hvballoond``; ``HVB_LIBVIRT_EMULATOR_BINARY`` its path;
- ``HVB_LIBVIRT_ENV``: libvirt-env.sh (the suite restarts libvirtd with it);
- ``HVB_LIBVIRT_WORKDIR``: scratch folder; ``HVB_LIBVIRT_RESULTS``: where virsh's outputs and
  the step times go (``virsh-NAME.json``, ``steps-NAME.json``, NAME = ``HVB_LIBVIRT_RUN_NAME``);
- ``HVB_REAL_GUEST``: a folder with vmlinuz + initrd.img (real QEMU boots this tiny guest, so
  the guest-driven steps complete; without it they are checked as "no guest OS");
- ``HVB_LIBVIRT_NO_GUEST=1``: no guest at all (hvballoond without its simulated guest): both
  emulators must then behave as QEMU does with no guest OS.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.interop.libvirt.domains import DOMAIN
from tests.interop.libvirt.virsh import Virsh


@dataclass(slots=True)
class Suite:
    """What the steps share."""

    virsh: Virsh
    emulator: str
    binary: str
    env_script: str
    workdir: Path
    results: Path | None
    real_guest: Path | None
    simulated_guest: bool = True
    passed: set[str] = field(default_factory=set)

    @property
    def hvballoond(self) -> bool:
        return self.emulator == "hvballoond"

    @property
    def guest(self) -> bool:
        """A guest answers hot-plug and balloon requests (real, or hvballoond's simulated one)."""
        return (self.hvballoond and self.simulated_guest) or self.real_guest is not None

    def requires(self, *steps: str) -> None:
        """Skip the current step unless ``steps`` passed (the steps build on each other)."""
        missing = [s for s in steps if s not in self.passed]
        if missing:
            pytest.skip(f"needs the earlier step(s) {', '.join(missing)}")

    def restart_libvirtd(self) -> None:
        self.virsh.log.append((time.time(), "libvirtd restart"))
        subprocess.run(["bash", self.env_script, "restart"], check=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.environ.get("HVB_LIBVIRT_URI"):
        return
    skip = pytest.mark.skip(reason="libvirt suite: run tests/interop/libvirt/run.sh")
    for item in items:
        if "interop/libvirt" in str(item.path):
            item.add_marker(skip)


_OUTCOME = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_OUTCOME] = report.passed
    return report


@pytest.fixture(autouse=True)
def _note_outcome(request: pytest.FixtureRequest, suite: Suite) -> Iterator[None]:
    """Remember which steps passed (``test_start`` passes as step ``start``), then note the
    live XML of the module's domain (``SNAPSHOT_DOMAIN``, default the main one)."""
    yield
    step = request.node.name.removeprefix("test_")
    if request.node.stash.get(_OUTCOME, False):
        suite.passed.add(step)
    suite.virsh.snapshot(getattr(request.module, "SNAPSHOT_DOMAIN", DOMAIN), step)


@pytest.fixture(scope="session")
def suite() -> Iterator[Suite]:
    env = os.environ
    results = Path(env["HVB_LIBVIRT_RESULTS"]) if env.get("HVB_LIBVIRT_RESULTS") else None
    no_guest = env.get("HVB_LIBVIRT_NO_GUEST") == "1"
    guest = Path(env["HVB_REAL_GUEST"]) if env.get("HVB_REAL_GUEST") else None
    if no_guest or (guest is not None and not (guest / "vmlinuz").exists()):
        guest = None
    workdir = Path(env.get("HVB_LIBVIRT_WORKDIR", "/tmp/hvb-libvirt-work"))
    workdir.mkdir(parents=True, exist_ok=True)
    state = Suite(
        virsh=Virsh(env["HVB_LIBVIRT_URI"]),
        emulator=env.get("HVB_LIBVIRT_EMULATOR", "hvballoond"),
        binary=env["HVB_LIBVIRT_EMULATOR_BINARY"],
        env_script=env["HVB_LIBVIRT_ENV"],
        workdir=workdir,
        results=results,
        real_guest=guest,
        simulated_guest=not no_guest,
    )
    yield state
    if results is not None:
        results.mkdir(parents=True, exist_ok=True)
        name = os.environ.get("HVB_LIBVIRT_RUN_NAME", state.emulator)
        state.virsh.write(results / f"virsh-{name}.json")
        (results / f"steps-{name}.json").write_text(
            json.dumps(state.virsh.log, indent=1) + "\n")

"""iSCSI export of file volumes through the Linux SCSI target daemon (``tgtd``).

Two layers:

* :class:`TgtAdm` runs ``tgtadm`` commands (targets, logical units, ACLs, CHAP
  accounts) and parses ``--op show``. Secrets never reach a log line or an exception:
  the command is logged and raised with the password replaced by ``***``.
* :class:`TgtExporter` is what the file driver uses: one target per volume, named
  ``<target_prefix>volume-<id>``, with LUN 1 backed by the volume *file* (``bstype
  rdwr``, no loop device), open to every initiator address (``ALL``) and, with CHAP,
  to the one account whose credentials the volume's ``provider_auth`` holds.

Nothing is kept in memory: the target of a volume is found by its name in ``tgtadm
--op show``, so several processes (or a restarted one) manage the same targets. A
new target's tid is the lowest free one at the time; ``tgtd`` refuses a tid or a
name that exists (``this target already exists``), so two processes racing for a tid
cannot both win: the loser reads the targets again and takes the next free tid, or
finds that the winner created the very target it wanted. Per volume, the callers
serialise create/remove (the file driver holds a ``flock`` on the volume file).

Targets live in ``tgtd``'s memory only (no ``/etc/tgt`` configuration is written):
after a ``tgtd`` restart the next ``create_export`` makes the target again.

Failures of ``tgtadm`` surface as :class:`TgtadmError` (a
:class:`subprocess.CalledProcessError` whose ``cmd`` is redacted); a daemon that does
not answer as its subclass :class:`TgtdNotRunning`.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import secrets
import shutil
import string
import subprocess
from collections.abc import Iterable, Sequence

__all__ = [
    "Target",
    "ChapCredentials",
    "TgtAdm",
    "TgtadmError",
    "TgtdNotRunning",
    "TgtExporter",
    "available",
    "target_name",
    "check_prefix",
    "format_portal",
]

LOG = logging.getLogger(__name__)

#: Seconds a ``tgtadm`` call may take.
DEFAULT_TIMEOUT = 30.0
#: The LUN that carries the volume (LUN 0 is tgtd's controller).
LUN = 1
#: Every initiator address may log in (CHAP, when enabled, is the gate).
ALL_INITIATORS = "ALL"
#: How many times a lost tid race is retried with the next free tid.
TID_ATTEMPTS = 32

_REDACTED = "***"
_ALNUM = string.ascii_letters + string.digits
_USER_LEN = 20
_PASSWORD_LEN = 16
_PREFIX_RE = re.compile(r"^(iqn\.[0-9]{4}-[0-9]{2}\.[a-z0-9.-]+(:[a-z0-9.:-]*)?|"
                        r"eui\.[0-9a-f]{16}:?)$")
_TARGET_RE = re.compile(r"^Target (\d+): (\S+)\s*$")
#: tgtadm's exit code when it cannot reach tgtd (ENOTCONN).
_ENOTCONN = 107


def available(program: str = "tgtadm") -> bool:
    """Whether ``tgtadm`` is on ``PATH`` (or in ``/usr/sbin``)."""
    return _which(program) is not None


def _which(program: str) -> str | None:
    return shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin")


def target_name(prefix: str, volume_id: str) -> str:
    """The IQN of a volume's target: ``<prefix>volume-<id>``."""
    return f"{prefix}volume-{volume_id}"


def check_prefix(prefix: object) -> str:
    """Return ``prefix`` if it makes valid IQNs (``iqn.YYYY-MM.reversed.domain:``),
    else raise ``ValueError`` saying why."""
    if not isinstance(prefix, str) or not _PREFIX_RE.match(prefix):
        raise ValueError(f"{prefix!r} is not an iSCSI name prefix such as "
                         f"'iqn.2010-10.org.volumelib:' (lowercase, digits, '.', '-', ':')")
    if len(prefix) + len("volume-") + 36 > 223:
        raise ValueError(f"{prefix!r} is too long: IQNs have at most 223 characters")
    return prefix


def format_portal(ip: str, port: int) -> str:
    """``127.0.0.1:3260``, or ``[::1]:3260`` for an IPv6 address."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


class TgtadmError(subprocess.CalledProcessError):
    """``tgtadm`` failed; ``cmd`` has secrets replaced by ``***``."""

    @property
    def message(self) -> str:
        return (self.stderr or "").strip() if isinstance(self.stderr, str) else ""

    @property
    def not_found(self) -> bool:
        return "can't find" in self.message

    @property
    def exists(self) -> bool:
        return "already exists" in self.message


class TgtdNotRunning(TgtadmError):
    """``tgtadm`` could not reach ``tgtd`` on its control port."""


@dataclasses.dataclass(frozen=True)
class Target:
    """One target as ``tgtadm --op show`` reports it.

    Attributes:
        tid: the target id. name: its IQN.
        luns: LUN number -> backing store path (``None`` for the controller LUN 0).
        accounts: the incoming CHAP accounts bound to it (outgoing ones are left out).
        acls: the initiator addresses or names allowed.
        sessions: how many I_T nexuses (logged-in initiator sessions) it has.
    """

    tid: int
    name: str
    luns: dict[int, str | None] = dataclasses.field(default_factory=dict)
    accounts: tuple[str, ...] = ()
    acls: tuple[str, ...] = ()
    sessions: int = 0


def parse_targets(text: str) -> list[Target]:
    """Parse ``tgtadm --lld iscsi --mode target --op show``."""
    targets: list[Target] = []
    current: dict | None = None
    section = ""
    lun: int | None = None

    def close() -> None:
        if current is not None:
            targets.append(Target(tid=current["tid"], name=current["name"],
                                  luns=current["luns"], accounts=tuple(current["accounts"]),
                                  acls=tuple(current["acls"]),
                                  sessions=current["sessions"]))

    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip():
            continue
        match = _TARGET_RE.match(line)
        if match:
            close()
            current = {"tid": int(match.group(1)), "name": match.group(2), "luns": {},
                       "accounts": [], "acls": [], "sessions": 0}
            section, lun = "", None
            continue
        if current is None:
            continue
        indent = len(line) - len(line.lstrip(" "))
        text_ = line.strip()
        if indent == 4 and text_.endswith(":"):
            section = text_[:-1]
            continue
        if section == "LUN information":
            if indent == 8 and text_.startswith("LUN:"):
                lun = int(text_.split(":", 1)[1])
                current["luns"][lun] = None
            elif lun is not None and text_.startswith("Backing store path:"):
                path = text_.split(":", 1)[1].strip()
                current["luns"][lun] = None if path == "None" else path
        elif section == "Account information" and indent == 8:
            if not text_.endswith("(outgoing)"):  # never made here; left alone
                current["accounts"].append(text_)
        elif section == "ACL information" and indent == 8:
            current["acls"].append(text_)
        elif section == "I_T nexus information" and text_.startswith("I_T nexus:"):
            current["sessions"] += 1
    close()
    return targets


def parse_accounts(text: str) -> list[str]:
    """Parse ``tgtadm --lld iscsi --mode account --op show`` (``Account list:``)."""
    return [line.strip() for line in text.splitlines()[1:] if line.strip()]


@dataclasses.dataclass(frozen=True)
class ChapCredentials:
    """A CHAP account, stored as the volume's ``provider_auth`` (``CHAP user password``,
    as Cinder does). ``repr`` hides the password."""

    username: str
    password: str = dataclasses.field(repr=False)

    @classmethod
    def generate(cls) -> ChapCredentials:
        """Random alphanumeric credentials (20-character user, 16-character secret)."""
        return cls(username="".join(secrets.choice(_ALNUM) for _ in range(_USER_LEN)),
                   password="".join(secrets.choice(_ALNUM) for _ in range(_PASSWORD_LEN)))

    @classmethod
    def from_provider_auth(cls, value: object) -> ChapCredentials | None:
        """Parse ``CHAP <user> <password>``; anything else (``None``...) gives ``None``."""
        if not isinstance(value, str):
            return None
        parts = value.split()
        if len(parts) != 3 or parts[0].upper() != "CHAP":
            return None
        return cls(username=parts[1], password=parts[2])

    def to_provider_auth(self) -> str:
        return f"CHAP {self.username} {self.password}"


class TgtAdm:
    """``tgtadm --lld iscsi`` commands against one ``tgtd``.

    Args:
        control_port: ``tgtd``'s management port (``tgtadm -C``); ``0``/``None``: the
            default one (the system ``tgtd``).
        timeout: seconds each call may take.
    """

    def __init__(self, control_port: int | None = None, *,
                 timeout: float = DEFAULT_TIMEOUT, program: str = "tgtadm") -> None:
        self.control_port = control_port or 0
        self.timeout = timeout
        self.program = program

    def __repr__(self) -> str:
        return f"<TgtAdm control_port={self.control_port}>"

    def _argv(self, args: Sequence[str]) -> list[str]:
        base = [_which(self.program) or self.program]
        if self.control_port:
            base += ["-C", str(self.control_port)]
        return base + ["--lld", "iscsi", *args]

    def run(self, *args: str, secret: str | None = None) -> str:
        """Run one ``tgtadm`` command and return its output.

        Args:
            secret: a value (a CHAP password) that must appear in no log or error.

        Raises:
            TgtdNotRunning: ``tgtd`` does not answer on the control port.
            TgtadmError: any other failure (``stderr`` says why).
            FileNotFoundError: no ``tgtadm`` program.
        """
        argv = self._argv(args)
        shown = [(_REDACTED if secret and a == secret else a) for a in argv]
        LOG.debug("running %s", " ".join(shown))
        try:
            result = subprocess.run(argv, capture_output=True, text=True,
                                    timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired:
            failure: subprocess.SubprocessError = subprocess.TimeoutExpired(shown,
                                                                            self.timeout)
        else:
            if result.returncode == 0:
                return result.stdout
            cls = TgtdNotRunning if result.returncode == _ENOTCONN else TgtadmError
            failure = cls(result.returncode, shown, result.stdout, result.stderr)
        # Raised outside the except block: no exception context holding the secret.
        raise failure

    # -- system --------------------------------------------------------------------

    def ping(self) -> str | None:
        """``None`` if ``tgtd`` answers, else why not. Never raises for tgtd failures."""
        try:
            self.run("--mode", "system", "--op", "show")
        except (subprocess.SubprocessError, OSError) as e:
            return (e.stderr or "").strip() if isinstance(e, TgtadmError) else str(e)
        return None

    # -- targets -------------------------------------------------------------------

    def targets(self) -> list[Target]:
        return parse_targets(self.run("--mode", "target", "--op", "show"))

    def find(self, name: str, targets: Iterable[Target] | None = None) -> Target | None:
        for target in (self.targets() if targets is None else targets):
            if target.name == name:
                return target
        return None

    def new_target(self, name: str) -> tuple[Target, bool]:
        """Create target ``name`` with the lowest free tid, or find it.

        Returns:
            ``(target, created)``: ``created`` is false when it existed already.

        Raises:
            TgtadmError: ``tgtadm`` failed, or no tid could be had in
                :data:`TID_ATTEMPTS` tries.
        """
        for _ in range(TID_ATTEMPTS):
            targets = self.targets()
            found = self.find(name, targets)
            if found is not None:
                return found, False
            used = {t.tid for t in targets}
            tid = next(t for t in range(1, len(used) + 2) if t not in used)
            try:
                self.run("--mode", "target", "--op", "new", "--tid", str(tid),
                         "--targetname", name)
            except TgtadmError as e:
                if e.exists:  # another process took the tid (or made this very target)
                    LOG.debug("tid %d or %s was taken meanwhile; looking again", tid, name)
                    continue
                raise
            LOG.debug("created target %d %s", tid, name)
            return Target(tid=tid, name=name), True
        raise TgtadmError(1, self._argv(["--mode", "target", "--op", "new"]), "",
                          f"no free tid for {name} after {TID_ATTEMPTS} attempts")

    def delete_target(self, tid: int) -> None:
        """Delete target ``tid`` even with sessions (``--force``). Missing: no-op."""
        try:
            self.run("--mode", "target", "--op", "delete", "--force", "--tid", str(tid))
        except TgtadmError as e:
            if not e.not_found or isinstance(e, TgtdNotRunning):
                raise
            LOG.debug("target %d is already gone", tid)

    def bind_address(self, tid: int, address: str = ALL_INITIATORS) -> None:
        self.run("--mode", "target", "--op", "bind", "--tid", str(tid),
                 "--initiator-address", address)

    # -- logical units -------------------------------------------------------------

    def new_lun(self, tid: int, lun: int, path: str, *, bstype: str = "rdwr",
                bsoflags: str | None = None) -> None:
        args = ["--mode", "logicalunit", "--op", "new", "--tid", str(tid), "--lun", str(lun),
                "--backing-store", path, "--bstype", bstype]
        if bsoflags:
            args += ["--bsoflags", bsoflags]
        self.run(*args)

    def delete_lun(self, tid: int, lun: int) -> None:
        self.run("--mode", "logicalunit", "--op", "delete", "--tid", str(tid),
                 "--lun", str(lun))

    # -- CHAP accounts (global in tgtd, bound to targets) --------------------------

    def accounts(self) -> list[str]:
        return parse_accounts(self.run("--mode", "account", "--op", "show"))

    def new_account(self, credentials: ChapCredentials) -> None:
        """Create the account. Exists already: no-op (its secret is not checked)."""
        try:
            self.run("--mode", "account", "--op", "new", "--user", credentials.username,
                     "--password", credentials.password, secret=credentials.password)
        except TgtadmError as e:
            if not e.exists or isinstance(e, TgtdNotRunning):
                raise

    def delete_account(self, username: str) -> None:
        """Delete the account. Missing: no-op."""
        try:
            self.run("--mode", "account", "--op", "delete", "--user", username)
        except TgtadmError as e:
            if not e.not_found or isinstance(e, TgtdNotRunning):
                raise

    def bind_account(self, tid: int, username: str) -> None:
        self.run("--mode", "account", "--op", "bind", "--tid", str(tid), "--user", username)

    def unbind_account(self, tid: int, username: str) -> None:
        try:
            self.run("--mode", "account", "--op", "unbind", "--tid", str(tid),
                     "--user", username)
        except TgtadmError as e:
            if not e.not_found or isinstance(e, TgtdNotRunning):
                raise


class TgtExporter:
    """A volume's iSCSI target: made, checked, refreshed and removed by name.

    Args:
        tgtadm: the ``tgtd`` to use.
        prefix: the IQN prefix (see :func:`check_prefix`).
        chap: bind a CHAP account to each target.
    """

    def __init__(self, tgtadm: TgtAdm, prefix: str, *, chap: bool = True) -> None:
        self.tgtadm = tgtadm
        self.prefix = check_prefix(prefix)
        self.chap = chap

    def name(self, volume_id: str) -> str:
        return target_name(self.prefix, volume_id)

    def find(self, volume_id: str) -> Target | None:
        """The volume's target, or ``None`` (also when ``tgtd`` is not running)."""
        try:
            return self.tgtadm.find(self.name(volume_id))
        except TgtdNotRunning:
            return None

    def ensure(self, volume_id: str, path: str,
               credentials: ChapCredentials | None) -> Target:
        """Make the volume's target serve ``path`` as LUN 1 to ``ALL`` initiators,
        with exactly the account ``credentials`` bound (none without CHAP).
        Idempotent; a target this call created is deleted again if a later step fails.

        Raises:
            TgtadmError: ``tgtadm`` failed (``TgtdNotRunning``: no daemon).
        """
        target, created = self.tgtadm.new_target(self.name(volume_id))
        account_created = False
        try:
            if created:
                target = self.tgtadm.find(target.name) or target
            if target.luns.get(LUN) != path:
                if LUN in target.luns:  # a stale backing file: serve the current one
                    self.tgtadm.delete_lun(target.tid, LUN)
                self.tgtadm.new_lun(target.tid, LUN, path)
            if ALL_INITIATORS not in target.acls:
                self.tgtadm.bind_address(target.tid, ALL_INITIATORS)
            wanted = credentials.username if (self.chap and credentials) else None
            for user in target.accounts:
                if user != wanted:
                    LOG.debug("unbinding stale account from target %d", target.tid)
                    self.tgtadm.unbind_account(target.tid, user)
                    self._delete_unbound_account(user)
            if wanted is not None and wanted not in target.accounts:
                assert credentials is not None
                account_created = wanted not in self.tgtadm.accounts()
                self.tgtadm.new_account(credentials)
                self.tgtadm.bind_account(target.tid, wanted)
        except BaseException:
            if created:
                self._rollback(target.tid, credentials if account_created else None)
            raise
        return self.tgtadm.find(target.name) or target

    def _rollback(self, tid: int, credentials: ChapCredentials | None) -> None:
        try:
            self.tgtadm.delete_target(tid)
            if credentials is not None:
                self.tgtadm.delete_account(credentials.username)
        except (subprocess.SubprocessError, OSError) as e:
            LOG.warning("could not delete the half-made target %d: %s", tid, e)

    def _delete_unbound_account(self, username: str) -> None:
        """Delete ``username`` unless another target still has it bound."""
        if any(username in t.accounts for t in self.tgtadm.targets()):
            return
        self.tgtadm.delete_account(username)

    def remove(self, volume_id: str, credentials: ChapCredentials | None = None) -> bool:
        """Delete the volume's target (with its sessions) and its accounts.

        Missing target: no-op, except that ``credentials``' account is deleted if no
        target uses it. ``tgtd`` not running: nothing can be left; logged, no error.

        Returns:
            Whether a target was deleted.
        """
        try:
            target = self.tgtadm.find(self.name(volume_id))
            users = list(target.accounts) if target else []
            if credentials is not None and credentials.username not in users:
                users.append(credentials.username)
            if target is not None:
                self.tgtadm.delete_target(target.tid)
                LOG.debug("deleted target %d %s", target.tid, target.name)
            for user in users:
                self._delete_unbound_account(user)
        except TgtdNotRunning as e:
            LOG.warning("tgtd does not answer (%s); volume %s has no target to remove",
                        e.message, volume_id)
            return False
        return target is not None

    def refresh(self, volume_id: str, path: str) -> None:
        """Make LUN 1 of the volume's target (if any) report ``path``'s current size,
        by re-creating the logical unit (tgtd reads the size when it is created)."""
        target = self.find(volume_id)
        if target is None:
            return
        self.tgtadm.delete_lun(target.tid, LUN)
        self.tgtadm.new_lun(target.tid, LUN, path)

    def backing_files(self) -> dict[str, str]:
        """Backing file -> target name, for every LUN of every target of ``tgtd``
        (not only ours: a file served by any target is in use). Empty without a daemon."""
        try:
            targets = self.tgtadm.targets()
        except TgtdNotRunning:
            return {}
        return {path: t.name for t in targets for path in t.luns.values() if path}

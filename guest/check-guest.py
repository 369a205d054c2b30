#!/usr/bin/env python3
"""Boot the cached test guest and check what the tests rely on.

Usage: check-guest.py [GUEST_DIR]

GUEST_DIR defaults to the output of `build-guest.sh --print-dir`.  The
guest boots from a throw-away qcow2 overlay on root.qcow2, with an extra
raw ext4 disk as /dev/vdb and another on virtio-scsi as /dev/sda.
Checks: time from QEMU start to a responding agent, guest-ping,
guest-exec with captured output, freeze / status / thaw, a failing
fsfreeze hook failing the freeze, mounting the extra disks, init's
handling of a stopped or killed agent, guest-shutdown.
Prints one line per check and a closing "N passed, N failed" line.
"""

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def qemu_argv(guest, tmp):
    """The command line from README.md, with an extra disk."""
    return [
        "qemu-system-x86_64",
        "-machine", "q35,accel=tcg", "-cpu", "max",
        "-m", "256", "-smp", "1", "-nodefaults", "-display", "none",
        "-kernel", os.path.join(guest, "vmlinuz"),
        "-initrd", os.path.join(guest, "initrd.img"),
        "-append", "console=ttyS0 root=/dev/vda rw quiet",
        "-serial", "file:" + os.path.join(tmp, "console.log"),
        "-drive", "file=%s,if=none,id=root,format=qcow2"
        % os.path.join(tmp, "overlay.qcow2"),
        "-device", "virtio-blk-pci,drive=root",
        "-drive", "file=%s,if=none,id=extra,format=raw"
        % os.path.join(tmp, "extra.raw"),
        "-device", "virtio-blk-pci,drive=extra",
        "-drive", "file=%s,if=none,id=scsi0,format=raw"
        % os.path.join(tmp, "scsi.raw"),
        "-device", "virtio-scsi-pci,id=scsi",
        "-device", "scsi-hd,bus=scsi.0,drive=scsi0",
        "-device", "virtio-serial-pci",
        "-chardev", "socket,id=qga0,path=%s,server=on,wait=off"
        % os.path.join(tmp, "qga.sock"),
        "-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
        "-qmp", "unix:%s,server=on,wait=off" % os.path.join(tmp, "qmp.sock"),
    ]


class Agent:
    """A minimal QEMU guest agent client."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf = b""
        self.next_id = int(time.time()) % 100000 * 1000

    def _read_reply(self, deadline):
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                line, self.buf = self.buf[:nl], self.buf[nl + 1:]
                line = line.lstrip(b"\xff").strip()
                if line:
                    return json.loads(line)
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply from agent")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError("no reply from agent") from None
            if not data:
                raise ConnectionError("agent socket closed")
            self.buf += data

    def sync(self, timeout):
        """guest-sync-delimited; True once the agent answers our id."""
        self.next_id += 1
        want = self.next_id
        msg = {"execute": "guest-sync-delimited", "arguments": {"id": want}}
        # QEMU reads nothing while no agent has the port open, so the
        # socket can fill up; a half-sent request is harmless, as the
        # 0xFF that starts the next one resets the agent's parser.
        self.sock.settimeout(timeout)
        try:
            self.sock.sendall(b"\xff" + json.dumps(msg).encode() + b"\n")
        except socket.timeout:
            return False
        deadline = time.monotonic() + timeout
        while True:
            try:
                r = self._read_reply(deadline)
            except TimeoutError:
                return False
            if r.get("return") == want:
                self.buf = b""
                return True

    def cmd(self, name, args=None, timeout=30):
        msg = {"execute": name}
        if args is not None:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        return self._read_reply(time.monotonic() + timeout)

    def run(self, argv, timeout=30):
        """guest-exec argv, wait for it; (exitcode, stdout, stderr)."""
        r = self.cmd("guest-exec", {"path": argv[0], "arg": argv[1:],
                                    "capture-output": True})
        pid = r["return"]["pid"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.cmd("guest-exec-status", {"pid": pid})["return"]
            if s["exited"]:
                out = base64.b64decode(s.get("out-data", "")).decode()
                err = base64.b64decode(s.get("err-data", "")).decode()
                return s.get("exitcode"), out, err
            time.sleep(0.05)
        raise TimeoutError("guest-exec %r did not finish" % argv)


def main():
    if len(sys.argv) > 1:
        guest = sys.argv[1]
    else:
        guest = subprocess.run(
            [os.path.join(HERE, "build-guest.sh"), "--print-dir"],
            check=True, stdout=subprocess.PIPE, text=True).stdout.strip()

    passed = failed = 0

    def check(name, ok, detail=""):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
        print("%s: %s%s" % ("ok" if ok else "FAIL", name,
                            " (%s)" % detail if detail else ""), flush=True)

    tmp = tempfile.mkdtemp(prefix="vmsnap-guest-check.")
    qemu = None
    try:
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F",
                        "qcow2", "-b", os.path.join(guest, "root.qcow2"),
                        os.path.join(tmp, "overlay.qcow2")], check=True)
        for name, size in (("extra", 64), ("scsi", 32)):
            path = os.path.join(tmp, name + ".raw")
            with open(path, "wb") as f:
                f.truncate(size << 20)
            subprocess.run(["mke2fs", "-q", "-t", "ext4", "-L", name, path],
                           check=True)

        start = time.monotonic()
        qemu = subprocess.Popen(qemu_argv(guest, tmp))
        sock_path = os.path.join(tmp, "qga.sock")
        while not os.path.exists(sock_path):
            if qemu.poll() is not None or time.monotonic() - start > 10:
                raise RuntimeError("QEMU did not create the agent socket")
            time.sleep(0.01)
        agent = Agent(sock_path)
        up = False
        while time.monotonic() - start < 120:
            if agent.sync(1.0):
                up = True
                break
        boot = time.monotonic() - start
        check("agent answers after boot", up, "%.1f s" % boot)
        if not up:
            return 1

        with open(os.path.join(tmp, "console.log"), errors="replace") as f:
            console = f.read()
        uptime = ""
        for line in console.splitlines():
            if line.startswith("vmsnap-guest: kernel uptime "):
                uptime = "guest " + line.split()[-1]
        check("console marker", "vmsnap-guest: ready" in console, uptime)

        r = agent.cmd("guest-ping")
        check("guest-ping", r == {"return": {}}, repr(r))

        code, out, _ = agent.run(["/bin/sh", "-c",
                                  "echo hi > /root/x; cat /root/x"])
        check("guest-exec with output", code == 0 and out == "hi\n",
              repr((code, out)))

        t = time.monotonic()
        r = agent.cmd("guest-fsfreeze-freeze")
        frozen_ms = (time.monotonic() - t) * 1000
        check("freeze", r.get("return") == 1, "%r, %.0f ms" % (r, frozen_ms))
        r = agent.cmd("guest-fsfreeze-status")
        check("status frozen", r.get("return") == "frozen", repr(r))
        t = time.monotonic()
        r = agent.cmd("guest-fsfreeze-thaw")
        check("thaw", r.get("return") == 1,
              "%r, %.0f ms" % (r, (time.monotonic() - t) * 1000))
        r = agent.cmd("guest-fsfreeze-status")
        check("status thawed", r.get("return") == "thawed", repr(r))

        code, out, err = agent.run(["/bin/sh", "-c",
                                    "mount -t ext4 /dev/vdb /mnt/b && "
                                    "echo data > /mnt/b/f && sync && "
                                    "cat /mnt/b/f && grep ' /mnt/b ' "
                                    "/proc/mounts"])
        check("mount /dev/vdb", code == 0 and out.startswith("data\n"),
              repr((code, out, err)))
        code, out, err = agent.run(["/bin/sh", "-c",
                                    "mount -t ext4 /dev/sda /mnt/c && "
                                    "grep ' /mnt/c ' /proc/mounts"])
        check("mount virtio-scsi /dev/sda", code == 0 and "/mnt/c" in out,
              repr((code, out, err)))
        r = agent.cmd("guest-fsfreeze-freeze")
        check("freeze with extra disks mounted", r.get("return") == 3,
              repr(r))
        r = agent.cmd("guest-fsfreeze-thaw")
        check("thaw with extra disks mounted", r.get("return") == 3, repr(r))
        code, _, _ = agent.run(["/bin/umount", "/mnt/c"])
        check("umount /mnt/c", code == 0)

        # A hook that succeeds runs on freeze and thaw; one that fails
        # fails the freeze, and nothing is left frozen.
        code, _, _ = agent.run(["/bin/sh", "-c",
                                "d=/etc/qemu/fsfreeze-hook.d; "
                                "printf '#!/bin/sh\\necho \"$1\" >> "
                                "/run/hook-a\\n' > $d/10-ok; "
                                "printf '#!/bin/sh\\nexit 1\\n' > $d/20-fail; "
                                "chmod +x $d/10-ok $d/20-fail"])
        check("install hooks", code == 0)
        r = agent.cmd("guest-fsfreeze-freeze")
        check("failing hook fails the freeze", "error" in r, repr(r))
        r = agent.cmd("guest-fsfreeze-status")
        check("not frozen after a failing hook",
              r.get("return") == "thawed", repr(r))
        code, out, _ = agent.run(["/bin/cat", "/run/hook-a"])
        check("earlier hook thawed again", out == "freeze\nthaw\n",
              repr(out))
        code, _, _ = agent.run(["/bin/rm", "/etc/qemu/fsfreeze-hook.d/20-fail"])
        r = agent.cmd("guest-fsfreeze-freeze")
        check("freeze with a good hook", r.get("return") == 2, repr(r))
        r = agent.cmd("guest-fsfreeze-thaw")
        check("thaw with a good hook", r.get("return") == 2, repr(r))
        code, out, _ = agent.run(["/bin/cat", "/run/hook-a"])
        check("hook saw freeze and thaw",
              out == "freeze\nthaw\nfreeze\nthaw\n", repr(out))

        # A stopped agent is left alone by init (tests SIGSTOP it); one
        # that exits is restarted.
        _, pid1, _ = agent.run(["/bin/pidof", "qemu-ga"])
        agent.cmd("guest-exec", {"path": "/bin/sh", "arg": [
            "-c", "(sleep 4; kill -CONT %s) >/dev/null 2>&1 & "
            "kill -STOP %s" % (pid1.strip(), pid1.strip())]})
        time.sleep(1)
        stopped = not agent.sync(1.0)
        t = time.monotonic()
        while not agent.sync(1.0) and time.monotonic() - t < 20:
            pass
        _, pid2, _ = agent.run(["/bin/pidof", "qemu-ga"])
        check("SIGSTOP/SIGCONT keeps the same agent",
              stopped and pid1 == pid2, "%r %r %r" % (stopped, pid1, pid2))
        agent.cmd("guest-exec", {"path": "/bin/kill",
                                 "arg": ["-KILL", pid1.strip()]})
        t = time.monotonic()
        time.sleep(0.5)
        while not agent.sync(1.0) and time.monotonic() - t < 20:
            pass
        _, pid3, _ = agent.run(["/bin/pidof", "qemu-ga"])
        check("a killed agent is restarted", pid3 and pid3 != pid1,
              "%.1f s, %r -> %r" % (time.monotonic() - t, pid1, pid3))

        # guest-shutdown sends no reply on success.
        agent.sock.sendall(b'{"execute":"guest-shutdown"}\n')
        try:
            qemu.wait(timeout=30)
            check("guest-shutdown powers off", True)
        except subprocess.TimeoutExpired:
            check("guest-shutdown powers off", False)
    finally:
        if qemu is not None and qemu.poll() is None:
            qemu.kill()
            qemu.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

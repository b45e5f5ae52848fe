"""The worker's channel to the supervisor: JSON lines over one stream socket, each line within
the supervisor's limits (long strings cut where a message allows it, an error where it does
not), and the reader thread that takes the supervisor's commands. Used by bulkhead_worker.
"""

import collections
import json
import math
import os
import select
import threading

import pytest

# Messages whose long strings may be cut to fit a channel line; any other message too long
# (a collection, a `done` with plugin output) is an error rather than corrupted.
_CUTTABLE = ("report", "warning", "internal_error")
# Strings a line never cuts below (so outcomes and names survive a cut), and what a report
# keeps when cutting its strings cannot fit it in one channel line.
_KEPT_BYTES = 1024
_REPORT_SCALARS = (
    "event", "index", "when", "outcome", "category", "letter", "word", "duration", "start",
    "stop", "head_line", "wasxfail", "text", "nodeid",
)


# One encoder for every line (json.dumps with options builds a new one per call).
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False)


def _encode(message):
    """One JSON line's bytes. NaN and infinities (a user property, a marker) are not JSON: they
    go as strings rather than break the channel."""
    try:
        text = _ENCODER.encode(message)
    except ValueError:
        text = json.dumps(
            _finite(message), ensure_ascii=False, separators=(",", ":"), default=str
        )
    return text.encode("utf-8", "replace")

def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def _long_strings(value, found, shortest):
    """Appends (container, key, encoded bytes) for each string whose JSON form is longer than
    `shortest` bytes (escapes count: "\\u0001" is six)."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        if isinstance(item, str):
            if len(item) > shortest // 6:
                size = len(_encode(item))
                if size > shortest:
                    found.append((value, key, size))
        elif isinstance(item, (dict, list)):
            _long_strings(item, found, shortest)


def _fit(message, cap):
    """The message's line with its longest strings cut to a common encoded length so that it
    fits `cap` bytes (the supervisor refuses longer lines as a broken worker's). None when that
    would cut strings below _KEPT_BYTES."""
    data = _encode(message)
    if len(data) <= cap:
        return data
    message = json.loads(data)  # plain dicts and lists: every string can be cut in place
    note = "\n[bulkhead: %d more characters not kept: a channel line is at most %d bytes]\n"
    for _ in range(4):  # another round only when a string's escapes are uneven
        found = []
        _long_strings(message, found, _KEPT_BYTES)
        found.sort(key=lambda entry: entry[2], reverse=True)
        excess = len(data) - cap
        # The longest size every string can keep: cutting the k longest to it removes enough.
        limit, total = None, 0
        for k, (_, _, size) in enumerate(found, 1):
            total += size
            candidate = (total - excess - k * (len(note) + 24)) // k
            following = found[k][2] if k < len(found) else 0
            if candidate >= following:
                limit = candidate
                break
        if limit is None or limit < _KEPT_BYTES:
            return None
        for holder, key, size in found:
            if size > limit:
                text = holder[key]
                keep = len(text) * limit // size
                holder[key] = text[:keep] + note % (len(text) - keep, cap)
        data = _encode(message)
        if len(data) <= cap:
            return data
    return None


class Channel:
    """JSON lines over one stream socket: events out, commands in. Posted events leave with
    the next flush: a test's teardown report and `finished` go out with the next test's
    `start` (or before the worker blocks), saving the supervisor a wake-up per test.

    Once the test loop starts, a reader thread takes the commands: `steal` is answered at once
    (even while a test runs) by `on_steal`, the others wait in a queue for the main thread.
    No line exceeds the supervisor's limits (`line_cap`, `collection_cap` for `collected`)."""

    def __init__(self, fd, line_cap, collection_cap):
        self.fd = fd
        self.line_cap = line_cap
        self.collection_cap = collection_cap
        self._inbox = bytearray()
        self._outbox = bytearray()
        self._write_lock = threading.Lock()
        self._commands = collections.deque()
        self._arrived = threading.Condition()
        self.closed = False

    def _line(self, message):
        """The message's line, with its '\\n', within the supervisor's limit for it."""
        data = _encode(message)
        kind = message.get("event")
        cap = self.collection_cap if kind == "collected" else self.line_cap
        if len(data) > cap:
            if kind not in _CUTTABLE:  # cutting would corrupt it: fail, saying why
                raise pytest.UsageError(
                    "bulkhead: the worker's `%s` message is %d bytes, over the channel's limit "
                    "of %d%s" % (kind, len(data), cap, self._what(message))
                )
            data = _fit(message, cap) or self._minimal(message, len(data), cap)
        return data + b"\n"

    @staticmethod
    def _what(message):
        if message.get("event") == "collected":
            return " (%d tests collected)" % len(message.get("items", ()))
        return ""

    @staticmethod
    def _minimal(message, size, cap):
        """A report reduced to its outcome, when cutting its strings cannot make it fit."""
        kept = {key: message[key] for key in _REPORT_SCALARS if key in message}
        kept["longrepr"] = "[bulkhead: this %s was %d bytes, over the channel's limit of %d]" % (
            message.get("event"),
            size,
            cap,
        )
        return _encode(kept)

    def _write(self, data):
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
        view.release()

    def post(self, message):
        self._outbox += self._line(message)

    def flush(self):
        with self._write_lock:
            self._write(self._outbox)
        self._outbox.clear()

    def send(self, message):
        self.post(message)
        self.flush()

    def send_now(self, message):
        """From any thread: one whole line, past the outbox of the main thread."""
        line = self._line(message)
        with self._write_lock:
            self._write(line)

    def start_reader(self, on_steal):
        thread = threading.Thread(
            target=self._read_commands, args=(on_steal,), name="bulkhead-channel", daemon=True
        )
        thread.start()

    def _read_commands(self, on_steal):
        try:
            self._read_loop(on_steal)
        except Exception as error:  # a bad line must not leave the main thread waiting forever
            try:
                self.send_now({"event": "internal_error", "text": "channel reader: %r" % error})
            except OSError:
                pass
        with self._arrived:
            self.closed = True
            self._arrived.notify_all()

    def _read_loop(self, on_steal):
        # Waits in poll, not in read: a thread blocked in read(2) on a unix stream socket is
        # woken each time the supervisor reads what the main thread wrote (the kernel's "room to
        # write" wake-up reaches every waiter of the socket); poll for input is not.
        waiter = select.poll()
        waiter.register(self.fd, select.POLLIN)
        while True:
            try:
                waiter.poll()
                chunk = os.read(self.fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                return
            self._inbox += chunk
            for command in self._complete_commands():
                if command.get("cmd") == "steal":
                    on_steal(command)
                    continue
                with self._arrived:
                    self._commands.append(command)
                    self._arrived.notify_all()

    def _complete_commands(self):
        """Takes every complete line out of the inbox, parsed; blank lines are skipped."""
        while True:
            newline = self._inbox.find(b"\n")
            if newline < 0:
                return
            line = bytes(self._inbox[:newline])
            del self._inbox[: newline + 1]
            if line.strip():
                yield json.loads(line)

    def receive(self, block):
        """Returns the next command (a dict), or None when none is ready (or the peer closed)."""
        if block:
            self.flush()
        with self._arrived:
            while block and not self._commands and not self.closed:
                self._arrived.wait()
            return self._commands.popleft() if self._commands else None

    def wait_for(self, name):
        """Before the reader thread starts (start_reader): reads until command `name` arrives
        and returns it (None if the peer closed); commands that arrive first wait in the queue
        for receive()."""
        self.flush()
        while True:
            for position, command in enumerate(self._commands):
                if command.get("cmd") == name:
                    del self._commands[position]
                    return command
            if self.closed:
                return None
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                self.closed = True
                return None
            self._inbox += chunk
            self._commands.extend(self._complete_commands())

"""Limits on the YAML and JSON text we read from a repository, checked before a parser
builds anything, so that no file can crash, hang or exhaust the process. One file
refused is one problem, at its line and column; the rest of the pass goes on.

The limits (each far above what real manifests use: the corpus of real OpenShift
files in ``shared/corpus/real`` nests at most 12 levels, holds at most 3,700 nodes in a
file, and uses at most 6 aliases and no merge key):

- ``MAX_DEPTH``: mappings and sequences nested deeper than this, in block or flow style.
  ruamel.yaml's composer recurses once per level: a RecursionError at a few hundred,
  a segfault in the C loader at ~10,000; its scanner is quadratic in flow depth.
- ``MAX_NODES``: keys, values and items in one file (about 12,000 tags of a stream
  written out in full). Parsing is linear but slow in Python (~30 us a node, twice that
  for the round trip that finds positions): this caps one file at seconds.
- ``MAX_ALIASES`` and ``MAX_MERGE_KEYS``: alias uses (``*name``) and merge keys (``<<``)
  in one file. ruamel.yaml's round-trip loader is quadratic in merge keys that share an
  anchor.
- ``MAX_ALIAS_EXPANSION``: nodes that aliases may add to a file when expanded (a
  "billion laughs" file); an alias inside its own anchor is refused too.
- keys: a mapping, sequence or explicit (``?``) key is refused (ruamel.yaml hashes nested
  collection keys in exponential time; manifests, like JSON, have plain keys), and so is
  an anchor defined twice in one document (the C loader refuses it too).
- characters YAML forbids (control characters other than tab and line breaks).

How: :func:`scan_yaml` is a linear pass over the text, a small lexer that knows quoted
scalars, comments, block scalars, plain scalars that go on over lines, flow collections
and indentation well enough to bound the nesting from above (a nesting it cannot place
is counted, never skipped; compact nesting such as ``- - - x`` is also bounded on the
raw text, whatever the lexer makes of it; the node count is an estimate). Only when the
text uses aliases, :func:`check_yaml` also composes the node graph (no objects built) to
measure what the aliases expand to.

Over 500 lines on purpose: the lexer, the limits and the refusal messages are one idea
(bound a text before a parser sees it) whose parts must agree on every token; split, a
change to how one place reads a scalar would have to be made in step in several.

Pure: text in, a verdict out. Callers turn a :class:`Refusal` into their own error (a
violation, a LockfileError, ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import CollectionNode, MappingNode, Node
from ruamel.yaml.reader import ReaderError

MAX_DEPTH = 100
MAX_NODES = 200_000
MAX_ALIASES = 256
MAX_MERGE_KEYS = 64
MAX_ALIAS_EXPANSION = 100_000

# What ruamel.yaml's reader refuses: everything but tab, the line breaks and printable
# characters (YAML 1.2, 5.1).
_FORBIDDEN = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# What ruamel.yaml takes for a line break.
_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_INDICATOR = re.compile(r"([-?:])(?:[ \t]+|$)")  # a block indicator and its separation
# Compact nesting ("- - - x", "? - x") deeper than the limit, anywhere in a text.
_CHAIN = re.compile(rf"(?:[-?:][ \t]+){{{MAX_DEPTH + 1}}}")
_HARD = re.compile(r"""['"\[\]{}#&*!|>]""")  # what only the full lexer handles
_KEY_COLON = re.compile(r":(?:[ \t]|$)")
_PLAIN_END = re.compile(r":(?=[ \t]|$)|[ \t]#")
_SPECIAL = re.compile(r"""['"\[\]{},:#&*!|>?]""")
_SINGLE_REST = re.compile(r"(?:[^']++|'')*+'")
_DOUBLE_REST = re.compile(r'(?:[^"\\]++|\\.)*+"')
_PROPERTY = re.compile(r"[^ \t,\[\]{}]*")  # the rest of an anchor, alias or tag
_DOCUMENT_MARK = re.compile(r"(?:---|\.\.\.)(?=[ \t]|$)")
_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|.)")
_JSON_TOKEN = re.compile(r'"(?:[^"\\]++|\\.)*+"|[\[\]{}]')

_MAP, _SEQ = 0, 1

# What loading a text that passed the limits may still raise: anything. Besides
# YAMLError, ruamel.yaml's constructors raise ValueError, IndexError, TypeError, ... on
# a value they cannot build ("2024-13-45" resolves to a timestamp; "!!int 0b"). From
# an untrusted text, each is one problem at the file, never a traceback.
LOAD_ERRORS: tuple[type[Exception], ...] = (Exception,)


@dataclass(frozen=True)
class Refusal:
    """Why a text is refused, and where (1-based line and column)."""

    line: int
    column: int
    message: str

    def text(self, file: str) -> str:
        """``file:line:column: message``."""
        return f"{file}:{self.line}:{self.column}: {self.message}"


@dataclass(frozen=True)
class Facts:
    """What the scan counted in a text it accepts."""

    depth: int
    nodes: int
    anchors: int
    aliases: int
    merge_keys: int


def _deeper(line: int, column: int) -> Refusal:
    return Refusal(line, column, f"refused: nesting deeper than {MAX_DEPTH} levels")


class _Refused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


class _Lexer:
    """The scan's state between lines. Columns are 0-based here."""

    def __init__(self, max_nodes: int | None) -> None:
        self.max_nodes = max_nodes
        self.blocks: list[list[int]] = []  # [column, kind, 1 if a sequence shares it]
        self.block_depth = 0
        # Per open flow collection: [1 for "[", 1 while a "key: value" pair is open, column]
        self.flow: list[list[int]] = []
        self.pairs = 0
        self.quote = ""  # the quote of a quoted scalar that goes on past a line's end
        self.block_scalar: int | None = None  # its parent's column, inside a | or > scalar
        self.plain: int | None = None  # its parent's column, after a plain scalar's line
        self.at_start = True  # a new token may start (flow context, across lines)
        self.after_json = False  # just after a quoted scalar or flow end: ":" is a value
        self.anchor_names: set[str] = set()  # this document's
        self.nodes = self.anchors = self.aliases = self.merges = 0
        self.depth = 0  # the deepest nesting seen (an upper bound of the real one)
        self.line = 0

    # -- counting

    def _check_depth(self, column: int) -> None:
        depth = self.block_depth + len(self.flow) + self.pairs
        if depth > self.depth:
            self.depth = depth
            if depth > MAX_DEPTH:
                raise _Refused(_deeper(self.line, column + 1))

    def _node(self, column: int) -> None:
        self.nodes += 1
        if self.max_nodes is not None and self.nodes > self.max_nodes:
            raise _Refused(
                Refusal(
                    self.line, column + 1, f"refused: more than {self.max_nodes} nodes in one file"
                )
            )

    def _open_block(self, column: int, kind: int) -> None:
        blocks = self.blocks
        self._dedent(column)
        if blocks and blocks[-1][0] == column:
            top = blocks[-1]
            if top[1] == _MAP and kind == _SEQ and not top[2]:
                top[2] = 1  # a sequence as a mapping's value, at the key's column
                self.block_depth += 1
                self._check_depth(column)
            elif top[1] == _MAP and kind == _MAP and top[2]:
                top[2] = 0  # the next key: that sequence ended
                self.block_depth -= 1
            return
        blocks.append([column, kind, 0])
        self.block_depth += 1
        self._node(column)
        self._check_depth(column)

    def _dedent(self, column: int) -> None:
        while self.blocks and self.blocks[-1][0] > column:
            self.block_depth -= 1 + self.blocks.pop()[2]

    def _parent(self) -> int:
        return self.blocks[-1][0] if self.blocks else -1

    # -- lines

    def feed(self, text: str) -> None:
        self.line += 1
        if self.quote:
            end = self._close(self.quote, text, 0)
            if end is None:
                return
            self.quote = ""
            self.after_json = True
            self._scan(text, end, at_start=False)
            return
        stripped = text.lstrip(" ")
        indent = len(text) - len(stripped)
        blank = not stripped.lstrip(" \t")
        if self.block_scalar is not None:
            if blank or (indent > self.block_scalar and not _DOCUMENT_MARK.match(text)):
                return
            self.block_scalar = None
        if blank:
            return
        if self.flow:
            self._scan(text, 0, at_start=self.at_start)
            return
        if stripped[0] == "#":
            self.plain = None  # a comment line ends a plain scalar
            return
        if self.plain is not None:
            plain, self.plain = self.plain, None
            if indent > plain and not _DOCUMENT_MARK.match(text):
                self._plain_goes_on(text, indent)
                return
        if indent == 0:
            if _DOCUMENT_MARK.match(text):
                self._dedent(-1)
                self.anchor_names.clear()
                self._scan(text, 3, at_start=True)
                return
            if text.startswith("%") and not self.blocks:
                return  # a directive
        self._dedent(indent)
        pos = indent
        while match := _INDICATOR.match(text, pos):
            if match.group(1) == "?":
                raise _Refused(_complex_key(self.line, pos))
            self._open_block(pos, _SEQ if match.group(1) == "-" else _MAP)
            pos = match.end()
        if _HARD.search(text, pos) is None:
            self._easy(text, pos)
        else:
            self._scan(text, pos, at_start=True)

    def _easy(self, text: str, pos: int) -> None:
        """The rest of a block line without quotes, brackets, comments, anchors, aliases,
        tags or block scalars (most lines): ``key: value``, ``key:`` or ``value``."""
        if pos >= len(text):
            return
        colon = _KEY_COLON.search(text, pos)
        if colon is None:
            self.nodes += 1
            self.plain = self._parent()
        else:
            self._open_block(pos, _MAP)
            if text[colon.end() :].strip(" \t"):
                self.nodes += 2
                self.plain = pos
            else:
                self.nodes += 1
        if self.max_nodes is not None and self.nodes > self.max_nodes:
            self._node(pos)

    def _anchor(self, name: str, column: int) -> None:
        self.anchors += 1
        if name in self.anchor_names:
            # Which one would an alias mean? The C loader refuses it; so do we.
            raise _Refused(Refusal(self.line, column + 1, f"refused: anchor &{name} defined twice"))
        self.anchor_names.add(name)

    def _plain_goes_on(self, text: str, indent: int) -> None:
        """A line that continues a plain scalar: text up to ": " or " #"."""
        for match in _PLAIN_END.finditer(text):
            if match.group().endswith("#"):
                return  # a comment: the scalar ends with the line
            self._scan(text, match.start(), at_start=False, tok_col=indent)
            return
        self.plain = self._parent()

    def _close(self, quote: str, text: str, pos: int) -> int | None:
        found = (_SINGLE_REST if quote == "'" else _DOUBLE_REST).match(text, pos)
        end = found.end() if found else len(text)
        if quote == '"' and "\\" in text[pos:end]:
            self._check_escapes(text, pos, end)
        return found.end() if found else None

    def _check_escapes(self, text: str, start: int, end: int) -> None:
        # "\ud800" is no character: the C loader refuses it, the pure one builds a
        # string that cannot be encoded. Refused here, so both agree.
        for escape in _ESCAPE.finditer(text, start, end):
            digits = escape.group(1) or escape.group(2)
            if digits and 0xD800 <= int(digits, 16) <= 0xDFFF:
                raise _Refused(
                    Refusal(
                        self.line,
                        escape.start() + 1,
                        f"escape {escape.group()} is a lone surrogate, not a character",
                    )
                )

    def _scan(self, text: str, pos: int, at_start: bool, tok_col: int | None = None) -> None:
        flow = self.flow
        length = len(text)
        tok = pos if tok_col is None else tok_col
        plain = False  # the line's last token is a plain scalar
        closed = -1  # the last token closed a flow collection opened here: not a key
        while pos < length:
            match = _SPECIAL.search(text, pos)
            end = match.start() if match else length
            if end > pos:
                gap = text[pos:end]
                stripped = gap.lstrip(" \t")
                if stripped.rstrip(" \t"):
                    if at_start:
                        tok = pos + len(gap) - len(stripped)
                        self._node(tok)
                        at_start = False
                    plain = True
                    closed = -1
                    self.after_json = False
            if match is None:
                break
            i = match.start()
            char = text[i]
            pos = i + 1
            key_was_collection, closed = closed, -1
            if char == "#":
                if i == 0 or text[i - 1] in " \t":
                    plain = False
                    break  # a comment
                plain = True
                continue
            if char in "'\"":
                if not at_start:
                    continue  # inside a plain scalar
                tok = i
                self._node(i)
                at_start = False
                plain = False
                end_quote = self._close(char, text, i + 1)
                if end_quote is None:
                    self.quote = char
                    break
                pos = end_quote
                self.after_json = True
                continue
            if char in "[{":
                if not (at_start or flow):
                    continue  # inside a plain scalar in block context
                if at_start:
                    tok = i
                flow.append([1 if char == "[" else 0, 0, i])
                self._node(i)
                self._check_depth(i)
                at_start, plain = True, False
                self.after_json = False
                continue
            if char in "]}":
                if flow:
                    _, pair, closed = flow.pop()
                    self.pairs -= pair
                    at_start, plain = False, False
                    self.after_json = True
                continue
            if char == "?":
                if at_start and text[i + 1 : i + 2] in ("", " ", "\t"):
                    raise _Refused(_complex_key(self.line, i))
                if at_start:
                    tok = i
                    self._node(i)
                    at_start = False
                plain = True
                continue
            if char == ",":
                if flow:
                    top = flow[-1]
                    self.pairs -= top[1]
                    top[1] = 0
                    at_start, plain = True, False
                    self.after_json = False
                continue
            if char == ":":
                following = text[i + 1 : i + 2]
                if following in ("", " ", "\t") or (
                    flow and (following in ",[]{}" or self.after_json)
                ):
                    if key_was_collection >= 0:
                        raise _Refused(_complex_key(self.line, key_was_collection))
                    if text[tok:i].strip() == "<<":
                        self.merges += 1
                        if self.merges > MAX_MERGE_KEYS:
                            raise _Refused(
                                Refusal(
                                    self.line,
                                    tok + 1,
                                    f"refused: more than {MAX_MERGE_KEYS} merge keys (<<) in one file",
                                )
                            )
                    if flow:
                        top = flow[-1]
                        if top[0] and not top[1]:
                            top[1] = 1  # a single-pair mapping inside a flow sequence
                            self.pairs += 1
                            self._check_depth(i)
                    else:
                        self._open_block(tok, _MAP)
                    at_start, plain = True, False
                    self.after_json = False
                    continue
                if at_start:
                    tok = i
                    self._node(i)
                    at_start = False
                plain = True
                continue
            if char in "&!":
                if at_start:
                    found = _PROPERTY.match(text, pos)
                    end = found.end() if found else pos
                    if char == "&":
                        self._anchor(text[pos:end], i)
                    pos = end
                continue
            if char == "*":
                if at_start:
                    self.aliases += 1
                    if self.aliases > MAX_ALIASES:
                        raise _Refused(
                            Refusal(
                                self.line,
                                i + 1,
                                f"refused: more than {MAX_ALIASES} aliases in one file",
                            )
                        )
                    tok = i
                    self._node(i)
                    found = _PROPERTY.match(text, pos)
                    pos = found.end() if found else pos
                    at_start, plain = False, False
                continue
            # "|" or ">"
            if at_start and not flow:
                self._node(i)
                self.block_scalar = self._parent()
                return
        self.at_start = at_start
        if plain and not flow and not self.quote:
            self.plain = self._parent()


def _complex_key(line: int, column: int) -> Refusal:
    return Refusal(
        line,
        column + 1,
        "refused: a mapping, sequence or explicit (?) key: manifests, like JSON, have plain keys",
    )


def _position(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of ``text[index]``, counting line breaks as ruamel does."""
    line, start = 1, 0
    for found in _BREAK.finditer(text, 0, index):
        line += 1
        start = found.end()
    return line, index - start + 1


def _describe(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def scan_yaml(text: str, *, max_nodes: int | None = MAX_NODES) -> Refusal | Facts:
    """Check ``text`` against the limits that need no parse: forbidden characters,
    nesting, nodes (``max_nodes``; None for no cap), aliases and merge keys. Linear in
    the text."""
    bad = _FORBIDDEN.search(text)
    if bad is not None:
        line, column = _position(text, bad.start())
        return Refusal(
            line,
            column,
            f"control character {_describe(bad.group())} is not allowed in YAML "
            "(in a double-quoted string, write it as an escape)",
        )
    # Compact nesting ("- - - - x") anywhere, whatever the lexer makes of the context:
    # the one kind of deep nesting that needs neither brackets nor long indentation.
    chain = _CHAIN.search(text)
    if chain is not None:
        line, column = _position(text, chain.start())
        return _deeper(line, column)
    lexer = _Lexer(max_nodes)
    try:
        for piece in _BREAK.split(text.removeprefix("\ufeff")):
            lexer.feed(piece)
    except _Refused as refused:
        return refused.refusal
    return Facts(lexer.depth, lexer.nodes, lexer.anchors, lexer.aliases, lexer.merges)


# What only the lexer can judge: flow collections (nesting without indentation, keys
# that are collections), anchors, aliases, merge keys, explicit keys, and the line
# breaks other than \n that ruamel.yaml also takes (\r alone, NEL, LS, PS).
_NOT_PLAIN_BLOCK = re.compile("[\\[\\]{}&*?\x85\u2028\u2029]|<<|\r(?!\n)")
# The start of each line up to its content: indentation and compact "- " indicators.
_LINE_LEAD = re.compile(r"(?m)^[ \t]*(?:-[ \t]+)*")


def _plainly_within_limits(text: str, max_nodes: int | None) -> bool:
    """True when ``text`` is within every limit without the lexer: block style only, no
    anchor, alias, merge or explicit key (so no alias expansion and no collection key),
    few enough characters to hold ``max_nodes`` nodes (each node takes at least two),
    and shallow lines. In block style each level down starts its content at least one
    character further right, but for a sequence under a mapping key, which may stand at
    the key's column: so a text whose lines' leads (indentation and "- " indicators)
    are at most ``w`` long nests at most ``2 * (w + 1)`` levels. A faster way to the
    same verdict for most manifests; anything else goes to the lexer."""
    if max_nodes is not None and len(text) > max_nodes // 2:
        return False
    if _NOT_PLAIN_BLOCK.search(text) is not None or _CHAIN.search(text) is not None:
        return False  # (a chain of indicators anywhere is refused by the lexer's rules)
    if "\\" in text and _ESCAPE.search(text) is not None:
        return False  # a \u escape: the lexer checks it names a character
    widest = max(len(lead) for lead in _LINE_LEAD.findall(text.removeprefix("\ufeff")))
    return 2 * (widest + 1) + 2 <= MAX_DEPTH


def check_yaml(text: str, *, max_nodes: int | None = MAX_NODES) -> Refusal | None:
    """All the limits for one YAML text (see the module docstring), or None when it may
    be parsed. A text that does not compose is not refused here: the parser words that
    error itself."""
    if _FORBIDDEN.search(text) is None and _plainly_within_limits(text, max_nodes):
        return None
    facts = scan_yaml(text, max_nodes=max_nodes)
    if isinstance(facts, Refusal):
        return facts
    if facts.aliases:
        return check_aliases(text)
    return None


def check_aliases(text: str) -> Refusal | None:
    """Compose ``text`` (nodes only) and refuse an alias inside its own anchor, aliases
    that expand past MAX_ALIAS_EXPANSION nodes, or nest past MAX_DEPTH. Call it on a
    text :func:`scan_yaml` accepted: composing recurses once per level."""
    try:
        roots = [root for root in YAML(typ="rt").compose_all(text) if root is not None]
    except YAMLError:
        return None
    except RecursionError:
        return Refusal(1, 1, f"refused: nesting deeper than {MAX_DEPTH} levels")
    graph = _Graph()
    try:
        for root in roots:
            graph.size(root, 1)
    except _Refused as refused:
        return refused.refusal
    return None


class _Graph:
    """Sizes and depths of a composed node graph, each node measured once."""

    def __init__(self) -> None:
        self.sizes: dict[int, int] = {}
        self.active: set[int] = set()
        self.extra = 0

    def size(self, node: Node, depth: int) -> int:
        ident = id(node)
        known = self.sizes.get(ident)
        if known is not None:
            # Seen before: an alias (or merge) uses it again.
            self.extra += known
            if self.extra > MAX_ALIAS_EXPANSION:
                raise _Refused(
                    _at(
                        node,
                        f"refused: YAML aliases expand past {MAX_ALIAS_EXPANSION} nodes "
                        "(this anchor is used too often)",
                    )
                )
            return known
        if ident in self.active:
            raise _Refused(_at(node, "refused: recursive YAML alias"))
        if not isinstance(node, CollectionNode):
            self.sizes[ident] = 1
            return 1
        if depth > MAX_DEPTH:
            raise _Refused(_at(node, f"refused: aliases nest this deeper than {MAX_DEPTH} levels"))
        self.active.add(ident)
        total = 1
        if isinstance(node, MappingNode):
            children: list[Any] = []
            for key, value in node.value:
                if isinstance(key, CollectionNode):
                    # Through an alias: ruamel hashes such keys in exponential time.
                    raise _Refused(
                        _at(key, "refused: a mapping or sequence as a key (through an alias)")
                    )
                children += (key, value)
        else:
            children = list(node.value)
        for child in children:
            total += self.size(child, depth + 1)
        self.active.discard(ident)
        self.sizes[ident] = total
        return total


def _at(node: Node, message: str) -> Refusal:
    mark = node.start_mark
    return Refusal(mark.line + 1, mark.column + 1, message)


def check_json(text: str) -> Refusal | None:
    """Nesting deeper than MAX_DEPTH in a JSON text (strings skipped exactly), or None.
    Malformed JSON is not refused here: the parser says what is wrong."""
    depth = 0
    for token in _JSON_TOKEN.finditer(text):
        char = token.group()
        if char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                line, column = _position(text, token.start())
                return _deeper(line, column)
        elif char in "]}":
            depth -= 1
    return None


def describe_error(exc: Exception, text: str) -> Refusal:
    """A parser's error as one line at its place: the problem and its context for a
    marked YAML error, the character for a reader error, the first line otherwise."""
    if isinstance(exc, MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = exc.problem or _first_line(str(exc))
        context = f" ({exc.context})" if exc.context else ""
        return Refusal(line, column, _first_line(f"YAML error: {problem}{context}"))
    if isinstance(exc, ReaderError) and isinstance(exc.position, int):
        line, column = _position(text, min(exc.position, len(text)))
        return Refusal(line, column, _first_line(f"YAML error: {exc.reason}"))
    # An unmarked error comes from building a value (a timestamp such as 2024-13-45):
    # find the scalar that cannot be built, and say where it is.
    line, column = _unbuildable_scalar(text) or (1, 1)
    return Refusal(line, column, _first_line(f"YAML error: {exc}"))


def _unbuildable_scalar(text: str) -> tuple[int, int] | None:
    """Where the first scalar stands whose value the safe loader cannot build, or None.
    Only called on a text the limits passed (composing it is bounded)."""
    from ruamel.yaml.constructor import SafeConstructor
    from ruamel.yaml.nodes import ScalarNode, SequenceNode

    yaml = YAML(typ="safe", pure=True)
    try:
        documents = [d for d in yaml.compose_all(text) if d is not None]
    except (YAMLError, ValueError, RecursionError):
        return None
    constructor = SafeConstructor(loader=yaml)
    seen: set[int] = set()
    pending: list[Node] = list(reversed(documents))
    while pending:  # depth first, in the order the nodes stand in the text
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, ScalarNode):
            try:
                constructor.construct_object(node)
            except Exception:  # whatever the value's builder raises is the finding
                return node.start_mark.line + 1, node.start_mark.column + 1
        elif isinstance(node, MappingNode):
            pending.extend(reversed([n for pair in node.value for n in pair]))
        elif isinstance(node, SequenceNode):
            pending.extend(reversed(node.value))
    return None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text

"""What tests/test_i18n.py checks, as functions a developer can also run on one file (issue 18 §11).

Three ways a string escapes translation, and the check for each:

- a template's text or visible attribute outside ``{% translate %}`` / ``{% blocktranslate %}``:
  ``template_findings`` reads the template with Django's own lexer;
- a Python literal handed to a place users read (a message, a form label or error, a choices
  label, an e-mail, ``format_html``) without ``gettext``: ``python_findings`` walks the syntax tree;
- anything else that reaches a page (a dictionary of labels, a string built in a helper):
  ``unmarked_text`` reads a page rendered under ``PseudoTranslation``, which wraps every string
  that went through gettext in ``⟦…⟧``, and returns the words left outside those marks.

``marked_msgids`` extracts what is marked, for the test that the Dutch catalogue translates it.
"""

from __future__ import annotations

import ast
import gettext as gettext_module
import io
import re
import tokenize
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path

from django.template.base import DebugLexer, TokenType
from django.utils import translation
from django.utils.translation import trans_real
from django.utils.translation.template import templatize

ROOT = Path(__file__).resolve().parent.parent
APPS = ("accounts", "agenda", "billing", "calsync", "connectors", "recurrence")
# Names of products and protocols, the same in every language.
BRANDS = frozenset(
    {
        "CalSync",
        "CalendarSync",
        "Google",
        "Microsoft",
        "Outlook",
        "iCloud",
        "CalDAV",
        "Radicale",
        "Xandikos",
        "Cyrus",
        "Stripe",
        "OAuth",
        "Apple",
        "ID",
    }
)
WORD = re.compile(r"[^\W\d_]{2,}")
# Stands for a template tag or variable in the text read by the HTML parser: not a letter, so it
# never makes a word of its own.
HOLE = "\u2063"
OPEN, CLOSE = "\u27e6", "\u27e7"

VISIBLE_ATTRIBUTE = re.compile(
    r"^(title|aria-label|placeholder|alt|aria-description|aria-roledescription"
    r"|data-[\w-]*(label|text|message|title|confirm))$"
)


def words(text: str, allowed: frozenset[str] = frozenset()) -> list[str]:
    """The words of ``text`` a reader would need translated (brands and ``allowed`` left out)."""
    return [w for w in WORD.findall(text) if w not in BRANDS and w not in allowed]


# -- the page as text -----------------------------------------------------------------------------


class _VisibleText(HTMLParser):
    """The text a reader sees or hears: element text outside scripts and styles, and the values
    of the attributes read out or shown (titles, labels, placeholders, button values)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[tuple[int, str]] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        values = dict(attrs)
        for name, value in attrs:
            if value and VISIBLE_ATTRIBUTE.match(name):
                self.chunks.append((self.getpos()[0], value))
        if (
            tag == "input"
            and values.get("type") in ("submit", "button", "reset")
            and values.get("value")
        ):
            self.chunks.append((self.getpos()[0], values["value"] or ""))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.chunks.append((self.getpos()[0], data))


def visible_text(html: str) -> list[tuple[int, str]]:
    parser = _VisibleText()
    parser.feed(html)
    parser.close()
    return parser.chunks


# -- templates ------------------------------------------------------------------------------------


def template_files() -> list[Path]:
    found = sorted((ROOT / "templates").rglob("*.html"))
    for app in APPS:
        found += sorted((ROOT / app / "templates").rglob("*.html"))
    return found


def _template_as_text(source: str) -> str:
    """The template with every tag and variable replaced by ``HOLE``, and everything inside
    translation blocks and comments too, lines kept where they were."""
    out: list[str] = []
    until: str | None = None
    for token in DebugLexer(source).tokenize():
        start, end = token.position or (0, 0)
        text = token.contents
        if token.token_type == TokenType.TEXT:
            piece = text
        else:
            piece = HOLE + "\n" * source[start:end].count("\n")
        if token.token_type == TokenType.BLOCK:
            name = text.split(" ", 1)[0]
            if until is not None:
                if name == until:
                    until = None
                out.append(HOLE)
                continue
            if name in ("blocktranslate", "blocktrans"):
                until = "end" + name
            elif name == "comment":
                until = "endcomment"
        if until is not None and token.token_type == TokenType.TEXT:
            # Keep the line count inside skipped blocks.
            out.append(HOLE + "\n" * text.count("\n"))
            continue
        out.append(piece)
    return "".join(out)


def template_findings(path: Path) -> list[str]:
    """``file:line: text`` for each visible text of the template not marked for translation."""
    rel = path.relative_to(ROOT)
    found = []
    for line, chunk in visible_text(_template_as_text(path.read_text())):
        if words(chunk):
            found.append(f"{rel}:{line}: {chunk.strip()!r}")
    return found


# -- Python ---------------------------------------------------------------------------------------

GETTEXT_NAMES = frozenset(
    {
        "_",
        "gettext",
        "gettext_lazy",
        "gettext_noop",
        "ngettext",
        "ngettext_lazy",
        "pgettext",
        "pgettext_lazy",
        "npgettext",
        "npgettext_lazy",
    }
)
MESSAGE_LEVELS = frozenset({"debug", "info", "success", "warning", "error"})
TEXT_KEYWORDS = frozenset(
    {"label", "help_text", "verbose_name", "verbose_name_plural", "empty_label", "message"}
)
MAIL_CALLS = frozenset({"send_mail", "EmailMessage", "EmailMultiAlternatives", "mail_admins"})
HTML_CALLS = frozenset({"format_html", "mark_safe", "SafeString"})
RESPONSE_CALLS = re.compile(r"^HttpResponse(\w*)$")


def python_files() -> list[Path]:
    files = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            parts = path.relative_to(ROOT).parts
            if "migrations" in parts or "management" in parts or "tests" in parts:
                continue
            files.append(path)
    return files


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _literal_text(node: ast.expr | None) -> str | None:
    """The words a literal would show, or None when the node is not a bare literal."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return " ".join(
            v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
        )
    return None


def _strip_markup(text: str) -> str:
    return re.sub(r"<[^>]*>|\{[^}]*\}|%\(\w+\)s|&\w+;", " ", text)


class _PythonCheck(ast.NodeVisitor):
    def __init__(self, rel: str) -> None:
        self.rel = rel
        self.found: list[str] = []

    def flag(self, node: ast.expr | None, why: str) -> None:
        text = _literal_text(node)
        if text is not None and node is not None and words(_strip_markup(text)):
            self.found.append(f"{self.rel}:{node.lineno}: {why}: {text!r}")

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        # ``ADMIN = "admin", "Administrator"`` in TextChoices: the label is what users read.
        if any(_name(b).endswith("Choices") for b in node.bases):
            for stmt in node.body:
                value = stmt.value if isinstance(stmt, ast.Assign) else None
                if isinstance(value, ast.Tuple) and len(value.elts) >= 2:
                    self.flag(value.elts[-1], "a choices label")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = _name(node.func)
        receiver = _name(node.func.value) if isinstance(node.func, ast.Attribute) else ""
        if name in GETTEXT_NAMES:
            return  # marked; its arguments are the msgid
        if receiver == "messages" and name in MESSAGE_LEVELS:
            for arg in node.args[1:2]:
                self.flag(arg, "a flash message")
        if receiver == "messages" and name == "add_message":
            for arg in node.args[2:3]:
                self.flag(arg, "a flash message")
        if name == "ValidationError" and node.args:
            self.flag(node.args[0], "a validation error")
            if isinstance(node.args[0], ast.Dict):
                for value in node.args[0].values:
                    self.flag(value, "a validation error")
        if name == "add_error" and len(node.args) >= 2:
            self.flag(node.args[1], "a form error")
        if name in MAIL_CALLS:
            for arg in node.args[:2]:
                self.flag(arg, "an e-mail")
        if name in HTML_CALLS and node.args:
            self.flag(node.args[0], "HTML for a page")
        if RESPONSE_CALLS.match(name) and node.args:
            self.flag(node.args[0], "a response body")
        for keyword in node.keywords:
            if keyword.arg in TEXT_KEYWORDS or keyword.arg in ("subject", "body"):
                self.flag(keyword.value, f"{keyword.arg}=")
            if keyword.arg == "error_messages" and isinstance(keyword.value, ast.Dict):
                for value in keyword.value.values:
                    self.flag(value, "error_messages=")
            if keyword.arg == "choices" and isinstance(keyword.value, ast.List | ast.Tuple):
                for item in keyword.value.elts:
                    if isinstance(item, ast.Tuple) and len(item.elts) == 2:
                        self.flag(item.elts[1], "a choices label")
        self.generic_visit(node)


def python_findings(path: Path) -> list[str]:
    check = _PythonCheck(str(path.relative_to(ROOT)))
    check.visit(ast.parse(path.read_text(), str(path)))
    return check.found


# -- JavaScript -----------------------------------------------------------------------------------

JS_STRING = re.compile(
    r"""(?P<call>\b(?:n?gettext|pgettext|interpolate)\(\s*)?(?P<q>['"`])(?P<s>(?:\\.|(?!(?P=q)).)*)(?P=q)"""
)


def js_findings(path: Path) -> list[str]:
    """String literals of two or more words that do not go through ``gettext``: the words a
    script puts on the page (JavaScriptCatalog serves their translations)."""
    rel = path.relative_to(ROOT)
    found = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.lstrip().startswith("//"):
            continue
        for match in JS_STRING.finditer(line):
            text = re.sub(r"\$\{[^}]*\}|%\(\w+\)s|%s", " ", match["s"])
            # Class lists and selectors ("status-line tone-", "a.button") are not prose.
            code_like = re.search(r"[-.#\[=_/]", text) or text == "use strict"
            if not match["call"] and not code_like and len(words(text)) >= 2:
                found.append(f"{rel}:{number}: {match['s']!r}")
    return found


# -- pages rendered under the pseudo-translation ---------------------------------------------------


class PseudoTranslation(gettext_module.NullTranslations):
    """Every string that went through gettext comes back as ``⟦string⟧``: what a page shows
    outside the marks never asked to be translated. Placeholders stay intact, so formatting
    works as in any language."""

    def __init__(self) -> None:
        super().__init__()
        self.__language = "nl"
        self.__to_language = "nl"
        self.plural = lambda n: int(n != 1)

    def gettext(self, message: str) -> str:
        if "\x04" in message:  # pgettext's "context\x04message" when not found
            message = message.split("\x04", 1)[1]
        return f"{OPEN}{message}{CLOSE}"

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return self.gettext(msgid1 if n == 1 else msgid2)

    def pgettext(self, context: str, message: str) -> str:
        return self.gettext(message)

    def npgettext(self, context: str, msgid1: str, msgid2: str, n: int) -> str:
        return self.ngettext(msgid1, msgid2, n)

    def language(self) -> str:
        return "nl"

    def to_language(self) -> str:
        return "nl"


@contextmanager
def pseudo_translation() -> Iterator[None]:
    """Dutch rendered with ``PseudoTranslation`` while inside: every translated string in
    ``⟦…⟧``. Django keeps one translation object per language (``trans_real._translations``);
    this one stands in for Dutch and the real one comes back after."""
    cache = trans_real._translations  # type: ignore[attr-defined]
    saved = cache.get("nl")
    cache["nl"] = PseudoTranslation()
    try:
        yield
    finally:
        if saved is None:
            cache.pop("nl", None)
        else:
            cache["nl"] = saved
        translation.deactivate()


def unmarked_text(html: str, allowed: frozenset[str]) -> list[str]:
    """The texts of a page rendered under ``PseudoTranslation`` that hold words outside the marks
    (``allowed``: the words of the test's own data: names, titles, addresses)."""
    found = []
    # A translated sentence may hold markup (a link, <strong>), so its marks open in one text
    # chunk and close in a later one: the depth carries over from chunk to chunk.
    depth = 0
    for line, chunk in visible_text(html):
        outside = []
        for char in chunk:
            if char == OPEN:
                depth += 1
            elif char == CLOSE:
                depth = max(0, depth - 1)
            outside.append(char if depth == 0 and char != CLOSE else HOLE)
        if words("".join(outside), allowed):
            found.append(f"line {line}: {chunk.strip()[:160]!r}")
    return found


# -- what is marked -------------------------------------------------------------------------------


def _python_msgids(source: str) -> Iterator[str | tuple[str, int]]:
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or _name(node.func) not in GETTEXT_NAMES:
            continue
        name = _name(node.func)
        args = [a.value if isinstance(a, ast.Constant) else None for a in node.args]
        yield from _msgid_keys(name, args)


def _msgid_keys(name: str, args: list[object]) -> Iterator[str | tuple[str, int]]:
    """The keys a compiled catalogue holds for a gettext call: ``msgid``, ``"ctx\\x04msgid"``, or
    ``(msgid, 0)`` for the plural forms."""
    context = ""
    if name.startswith(("pgettext", "npgettext")):
        context, args = str(args[0]) + "\x04", args[1:]
    if not args or not isinstance(args[0], str):
        return
    if name.startswith(("ngettext", "npgettext")):
        yield (context + args[0], 0)
    else:
        yield context + args[0]


def _template_msgids(source: str) -> Iterator[str | tuple[str, int]]:
    """Django's ``templatize`` (what ``makemessages`` hands xgettext) turns the template's
    translation tags into gettext calls; read those calls back with Python's tokenizer."""
    code = templatize(source)
    tokens = [
        t
        for t in tokenize.generate_tokens(io.StringIO(code).readline)
        if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT)
    ]
    for i, token in enumerate(tokens):
        if token.type != tokenize.NAME or token.string not in GETTEXT_NAMES:
            continue
        if i + 1 >= len(tokens) or tokens[i + 1].string != "(":
            continue
        args: list[object] = []
        for follow in tokens[i + 2 :]:
            if follow.type == tokenize.STRING:
                args.append(ast.literal_eval(follow.string))
            elif follow.string == ",":
                continue
            else:
                break
        yield from _msgid_keys(token.string, args)


def marked_msgids() -> dict[str | tuple[str, int], str]:
    """Every msgid the code and templates mark, with where it is marked."""
    found: dict[str | tuple[str, int], str] = {}
    for path in python_files():
        for key in _python_msgids(path.read_text()):
            found.setdefault(key, str(path.relative_to(ROOT)))
    for path in template_files():
        for key in _template_msgids(path.read_text()):
            found.setdefault(key, str(path.relative_to(ROOT)))
    return found

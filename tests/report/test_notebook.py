"""Report and Diagnosis in a notebook: a one-line repr, and an escaped HTML view with severity colours."""

from __future__ import annotations

from html.parser import HTMLParser

from gradmedic.records import CheckupReport, Diagnosis, Incident, LayerInfo, Remedy, Report, Treatment

EVIL = "<script>alert('x')</script>"


def _diagnosis(kind: str, severity: str, layers: tuple[str, ...] = ("0", "2"), message: str = "m") -> Diagnosis:
    remedy = Remedy("lower_lr", "Lower the learning rate", "opt = SGD(model.parameters(), lr=1e-3)  # <b>", 1)
    return Diagnosis(kind, severity, layers, 12, message, {"ratio": 1.5e-5, "layers": list(layers)}, (remedy,))  # type: ignore[arg-type]


def _report(**kw: object) -> Report:
    layers = [LayerInfo(name=str(i), type="Linear", order=i) for i in range(5)]
    diagnoses = [
        _diagnosis("non_finite", "error"),
        _diagnosis("exploding_gradients", "error"),
        _diagnosis("loss_divergence", "warning", layers=()),
        _diagnosis("dead_units", "info"),
    ]
    return Report(steps=40, layers=layers, diagnoses=kw.pop("diagnoses", diagnoses), **kw)  # type: ignore[arg-type]


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> Tags:
    parser = Tags()
    parser.feed(html)
    return parser


def test_report_repr_is_one_line_with_the_kinds_by_severity() -> None:
    text = repr(_report(treatments=[Treatment(3, "non_finite", "skip", "nan")]))
    assert "\n" not in text and len(text) < 200
    assert text == (
        "Report(steps=40, layers=5, error: non_finite exploding_gradients, warning: loss_divergence, "
        "info: dead_units, treatments=1)"
    )


def test_a_healthy_report_and_a_checkup_report_say_so_in_one_line() -> None:
    assert repr(_report(diagnoses=[])) == "Report(steps=40, layers=5, no diagnoses)"
    checkup = CheckupReport(steps=0, layers=[], diagnoses=[_diagnosis("dead_units", "info")])
    assert repr(checkup) == "CheckupReport(steps=0, layers=0, info: dead_units, healthy)"


def test_diagnosis_repr_is_short_however_many_layers() -> None:
    d = _diagnosis("vanishing_gradients", "warning", layers=tuple(f"block.{i}.fc" for i in range(40)))
    assert (
        repr(d)
        == "Diagnosis(warning vanishing_gradients in block.0.fc, block.1.fc, block.2.fc and 37 more, from step 12)"
    )


def test_report_html_has_a_row_and_a_card_per_diagnosis_with_severity_colours() -> None:
    html = _report()._repr_html_()
    parsed = _parse(html)
    badges = [a["class"] for t, a in parsed.tags if t == "span" and "badge" in (a.get("class") or "")]
    assert badges[:4] == ["badge error", "badge error", "badge warning", "badge info"]  # the table, in order
    cards = [a["data-kind"] for t, a in parsed.tags if t == "article"]
    assert cards == ["non_finite", "exploding_gradients", "loss_divergence", "dead_units"]
    assert any(t == "style" for t, _ in parsed.tags) and ".gradmedic-nb" in html
    assert "Problems found" in html and "error: non_finite exploding_gradients" in html


def test_everything_from_the_run_is_escaped() -> None:
    d = _diagnosis("dead_units", "error", layers=(EVIL,), message=EVIL)
    report = _report(diagnoses=[d], incidents=[Incident(3, EVIL, EVIL)])
    for html in (report._repr_html_(), d._repr_html_()):
        assert "<script>" not in html
        assert not any(t == "script" for t, _ in _parse(html).tags)
        assert "&lt;script&gt;" in html


def test_diagnosis_html_is_its_card() -> None:
    html = _diagnosis("vanishing_gradients", "warning")._repr_html_()
    parsed = _parse(html)
    assert [a["data-kind"] for t, a in parsed.tags if t == "article"] == ["vanishing_gradients"]
    assert "Vanishing gradients" in "".join(parsed.text)
    assert "lr=1e-3)  # <b>" in "".join(parsed.text)  # the snippet, shown as text


def test_a_report_with_incidents_is_not_called_healthy() -> None:
    html = _report(diagnoses=[], incidents=[Incident(-1, "callback", "no optimizer")])._repr_html_()
    assert "Healthy" not in html and "not watched" in html and "no optimizer" in html

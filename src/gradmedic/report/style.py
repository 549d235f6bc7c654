"""The page's inline stylesheet: system fonts only, one column that reflows down to a phone's width."""

CSS = """
:root { --fg: #1d232b; --muted: #5b6570; --line: #d5dbe1; --bg: #ffffff; --panel: #f6f8fa;
  --error: #c62828; --warning: #d9730d; --info: #1f6fb2; --treatment: #1e8a3e; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 980px; margin: 0 auto; padding: 12px 16px 40px; }
h1 { font-size: 1.5em; margin: 0.4em 0 0.2em; }
h2 { font-size: 1.25em; margin: 1.6em 0 0.4em; padding-bottom: 0.2em; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.1em; margin: 0; }
h4 { font-size: 0.95em; margin: 1em 0 0.3em; }
p { margin: 0.4em 0; }
a { color: var(--info); }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace;
  font-size: 0.88em; }
code { overflow-wrap: anywhere; }
pre { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px;
  overflow-x: auto; max-width: 100%; }
nav { font-size: 0.9em; color: var(--muted); display: flex; flex-wrap: wrap; gap: 2px 14px; }
nav a { white-space: nowrap; }
.meta { color: var(--muted); font-size: 0.9em; overflow-wrap: anywhere; }
.verdict { font-weight: 600; padding: 8px 12px; border-radius: 6px; margin: 0.6em 0; }
.verdict.healthy { background: #e8f5ec; color: #17612d; }
.verdict.sick { background: #fdecea; color: #8e1b1b; }
.verdict.partial { background: #fff4e0; color: #7a4b00; }
.incidents { background: #fff4e0; color: #7a4b00; border-left: 4px solid #d08700; padding: 8px 12px; margin: 0.6em 0; }
.incidents ul { margin: 0.3em 0 0; padding-left: 1.2em; }
.note { background: #eef3fb; border-left: 4px solid #3a6fc4; padding: 6px 12px; overflow-wrap: anywhere; }
.verdict ul { margin: 0.3em 0 0; padding-left: 1.2em; font-weight: 400; }
figure { margin: 0.8em 0; }
figcaption { color: var(--muted); font-size: 0.88em; }
.plot-box { max-width: 100%; overflow-x: auto; }
svg.plot { display: block; width: 100%; max-width: 800px; min-width: 480px; height: auto; }
svg.plot text { font-size: 12px; fill: #38424c; font-family: system-ui, Arial, sans-serif; }
svg.plot text.label { fill: var(--muted); font-style: italic; }
svg.plot .cells { image-rendering: pixelated; }
svg.plot .frame { fill: none; stroke: #9aa4ae; stroke-width: 0.6; }
svg.plot .axis { stroke: #6b7580; stroke-width: 1; }
svg.plot .tick { stroke: #6b7580; }
svg.plot .grid { stroke: #e6eaee; stroke-width: 1; }
svg.plot .series { fill: none; stroke: #1f6fb2; stroke-width: 1.4; stroke-linejoin: round; }
svg.plot.loss .series { stroke: #444; }
svg.plot .band { fill: #1f6fb2; fill-opacity: 0.16; stroke: none; }
svg.plot.loss .band { fill: #444; }
svg.plot .marker { stroke-width: 1.4; stroke-dasharray: 4 3; }
svg.plot .marker.error { stroke: var(--error); } svg.plot .marker.warning { stroke: var(--warning); }
svg.plot .marker.info { stroke: var(--info); } svg.plot .marker.treatment { stroke: var(--treatment); }
svg.plot text.marker-label { font-weight: 700; }
svg.plot text.marker-label.error { fill: var(--error); } svg.plot text.marker-label.warning { fill: var(--warning); }
svg.plot text.marker-label.info { fill: var(--info); } svg.plot text.marker-label.treatment { fill: var(--treatment); }
svg.plot .legend-bar, svg.plot .swatch { stroke: #9aa4ae; stroke-width: 0.5; }
svg.plot .bar { fill: #b7c0c9; } svg.plot .bar.hit.error { fill: var(--error); }
svg.plot .bar.hit.warning { fill: var(--warning); } svg.plot .bar.hit.info { fill: var(--info); }
svg.plot .bar.nonfinite { fill: #ff00c8; } svg.plot .bar.missing { fill: #e8e8e8; }
.card { border: 1px solid var(--line); border-left: 6px solid var(--info); border-radius: 8px;
  padding: 10px 14px; margin: 14px 0; background: #fff; }
.card.error { border-left-color: var(--error); } .card.warning { border-left-color: var(--warning); }
.card header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 10px; }
.badge { font-size: 0.75em; font-weight: 700; color: #fff; border-radius: 4px; padding: 1px 6px; }
.badge.error { background: var(--error); } .badge.warning { background: var(--warning); }
.badge.info { background: var(--info); }
.where { color: var(--muted); font-size: 0.9em; margin: 0; flex-basis: 100%; overflow-wrap: anywhere; }
.about { color: var(--muted); }
.message { font-size: 1.02em; }
table { border-collapse: collapse; font-size: 0.88em; max-width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 3px 8px 3px 0; border-bottom: 1px solid #eef1f4; }
td { overflow-wrap: anywhere; word-break: break-word; }
th { white-space: nowrap; font-weight: 600; }
.remedy summary { cursor: pointer; margin: 0.3em 0; }
.applied, .treated { background: var(--treatment); color: #fff; font-size: 0.75em; border-radius: 4px;
  padding: 1px 5px; }
.treatment { border-left: 3px solid var(--treatment); padding: 2px 0 2px 10px; margin: 6px 0; }
.untreated { color: var(--muted); }
footer { margin-top: 2.4em; padding-top: 0.8em; border-top: 1px solid var(--line); color: var(--muted);
  font-size: 0.85em; }
.runs td, .runs th { padding: 6px 12px 6px 0; }
.ok { color: #17612d; font-weight: 600; } .bad { color: #8e1b1b; font-weight: 600; }
@media (max-width: 600px) { body { font-size: 14px; } main { padding: 8px 10px 30px; } th { white-space: normal; } }
"""

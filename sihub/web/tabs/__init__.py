"""The web page's tabs: one module each, each with a small `build(page)` that lays its tab out
and wires its own events. `ui.build_ui` puts them together and wires what crosses tabs."""

"""The markets pages (htmx): each view parses input, calls one service or selector, renders."""

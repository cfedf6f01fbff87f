"""The browser's pages: views, forms, template tags and charts.

A page shows what several apps know (a claim page has the market, the consensus and the live cursor), so
the pages sit above every app they show and import them downwards; the apps know nothing of their pages.
A view parses its form, calls the services and selectors the REST API calls, and renders
`templates/<app>/<page>.html`; its queries live in the owning app's `selectors.py`.
"""

"""The agent console (坐席工作台): server-rendered pages for agents, supervisors and departments,
with one WebSocket for live updates. ``hotline.web.console.routes.setup`` wires it into the app.

Kept free of imports: ``hotline.config`` imports :mod:`hotline.web.console.config`.
"""

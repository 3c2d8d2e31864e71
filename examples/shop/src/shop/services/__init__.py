"""The shop's rules, independent of HTTP: the routers of every API version call these.

Each function works inside the caller's session and transaction and never
commits; the request's ``get_session`` commits once the endpoint returns, so a
change and the events it records are stored together or not at all.
"""

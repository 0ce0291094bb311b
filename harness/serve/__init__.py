"""Policy serving: any registry policy over openpi's websocket protocol, and clients for it and for OpenVLA's REST
server, so the model can run on a GPU box (or in a baseline's own environment) while the robot runs elsewhere.

Layer: above `policy` (it serves policies and implements the `Policy` interface remotely), below `robot` and `sim`
(their runners drive a `RemotePolicy` like a local one). Modules: `protocol` (the messages), `server`, `client`
(`RemotePolicy`, `RemoteTextModel`, `PolicyServerError`), `openvla_rest`, `bench` (serving overhead).
"""

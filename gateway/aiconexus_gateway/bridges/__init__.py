"""Bridges: other agent protocols (A2A, MCP) in front of the gateway's agents.

A bridge is a *client* of the gateway: it holds identities, signs and registers like any
agent, and reaches agents through the SDK's public API (``aiconexus.GatewayClient``,
``aiconexus.list_agents``). It imports nothing of the gateway's core (hub, router, sessions),
so the core learns nothing of A2A or MCP; access policy, rate limits and routing apply to a
bridge's calls as to any agent's. Each bridge is a subpackage (``bridges.a2a``,
``bridges.mcp``) whose dependencies are an optional extra of the gateway package.
"""

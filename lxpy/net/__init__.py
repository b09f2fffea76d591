"""Networking: managed bridges with NAT, DHCP and DNS (dnsmasq), and containers' NICs.

pyroute2 is imported by `links` alone; `model` and `dnsmasq` are standard library only.
"""

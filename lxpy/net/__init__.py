"""Networking: managed bridges with NAT, DHCP and DNS (dnsmasq), and containers' NICs.

Standard library only: netlink through a raw socket (`netlink`), nftables and dnsmasq as
processes.
"""

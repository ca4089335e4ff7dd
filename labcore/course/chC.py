"""Deep dive C, one packet's path through the kernel: its quiz and exercises."""

from __future__ import annotations

import secrets
import sys

from ..teach.exercise import Exercise
from ..teach.quiz import Choice, Quiz, Recall

QUIZ = Quiz("C", "One packet's path through the kernel", [
    Choice("dnat-priority", "Why does the DNAT of a published port hang at prerouting with priority -100?",
           right="it must rewrite the destination before the route lookup, and after conntrack (-200) has an entry",
           wrong=["prerouting is the only hook where nat chains are allowed at all, so any priority there would work",
                  "a priority below zero makes it run before conntrack, so that the entry records the rewritten port"],
           why="Section 3: the chain at -150 saw the host's port, the one at -50 the container's; the route lookup comes next."),
    Choice("masq-priority", "Why is masquerade at postrouting with priority 100 and not at forward?",
           right="the outgoing link, hence the source address to use, is known only after routing and filtering",
           wrong=["forward is only ever crossed by replies, so outgoing requests never meet a rule placed there",
                  "postrouting runs once per connection, whereas forward runs again for every single packet it carries"],
           why="Section 2's trace: the chain at postrouting 50 saw 10.199.x.y, the one at 150 saw 198.18.0.1."),
    Choice("first-only", "A container sends 20 datagrams on one UDP socket to the same server. How many of them "
                         "does the masquerade rule's counter count?",
           right="one: the first packet creates the conntrack entry; the rest are rewritten from the entry",
           wrong=["twenty: every datagram leaving the subnet is matched again and rewritten by that same rule",
                  "forty: the rule rewrites each of the requests and, in reverse, each of the twenty replies"],
           why="Section 4: the filter chains counted every datagram, the nat rule one."),
    Choice("bridge-fdb", "After a container's first frame, what does the bridge's forwarding database hold for it?",
           right="the container's MAC address, learned behind the veth port its frame came in on",
           wrong=["the container's IP address, mapped to the veth port by an ARP entry of the bridge",
                  "nothing until Docker adds a static entry for the container when it attaches it"],
           why="Section 1: fdb() listed the container's MAC as learned behind its veth's host end."),
    Choice("br-netfilter", "With bridge-nf-call-iptables=1, what changes for two containers on one bridge?",
           right="their frames, switched port to port, also pass the IPv4 hooks, so forward rules see them",
           wrong=["their frames are routed through the host instead of switched, so the TTL drops by one",
                  "their traffic is masqueraded to the bridge's address, so each sees the gateway as source"],
           why="Section 5: the forward chain counted container-to-container pings as the sysctl said it would."),
    Choice("conntrack-confirm", "When does a new connection's conntrack entry enter the table (CONFIRMED)?",
           right="when its first packet leaves the last hook (postrouting, or input) without being dropped",
           wrong=["when the first packet enters prerouting, before any of the rules has had a chance to drop it",
                  "when the first reply arrives, since only then does conntrack know both of the entry's tuples"],
           why="Section 3: the entries read after the exchanges are CONFIRMED and SEEN_REPLY; confirm runs last."),
    Recall("hooks-order", "Walk through the netfilter hooks a packet from a container to the internet crosses on "
                          "the host, and what happens at each.",
           model="It arrives from the bridge at prerouting: conntrack (-200) creates or finds the entry, nat "
                 "prerouting (-100) may DNAT (not here). The route lookup sends it to forward (filter 0: Docker's "
                 "or the lab's accept rules). Postrouting: masquerade at 100 rewrites the source to the uplink's "
                 "address, conntrack confirms the entry last. The reply is un-NATed from the entry at prerouting "
                 "without any nat rule, then forward and postrouting towards the bridge.",
           demo="sections 2 and 3"),
    Recall("why-br-netfilter", "Why does Docker load br_netfilter, and what breaks without it?",
           model="Frames between containers on the same bridge are switched, not routed, so the IPv4 hooks never "
                 "see them. br_netfilter (bridge-nf-call-iptables=1) passes them through iptables too, which Docker "
                 "needs for icc=false isolation and, without the userland proxy, for a container reaching a "
                 "published port of a neighbour on the same bridge (the switched reply must be un-NATed by "
                 "conntrack). Without it those rules silently do nothing. Docker loaded it at start up to 27.2, "
                 "27.3 only for icc=false, 27.4 also for userland-proxy=false; once loaded it applies to every "
                 "bridge on the host.",
           demo="section 5"),
])


def _lab():
    from .. import net  # loaded on first use: pyroute2 costs time
    return net


SERVER = ("import socket;s=socket.socket(2,2);s.bind(('0.0.0.0',9999));print('up',flush=True)\n"
          "while True:\n d,a=s.recvfrom(100);s.sendto(d,a)")


def _busy() -> str | None:
    if _lab().netns.exists("lab-internet"):
        return "run this before the deep dive builds its internet namespace, or after its cleanup cell"
    return None


class NatSeesFirst(Exercise):
    id = "nat-sees-first"
    chapter = "C"
    kind = "predict"
    title = "predict how many packets the masquerade rule counts"
    task = """Before running section 4, predict: a container on a lab network runs `ping -c 10` to the
server in the "internet" namespace (ten echo requests, one ICMP identifier: one connection for
conntrack). The network's nat chain at postrouting has one rule, `ip saddr SUBNET oifname != BRIDGE
counter masquerade`. By how many packets does that rule's counter grow? Answer with an integer.
The checker builds the network, the internet and the container, pings and reads the counter."""
    hint = "count the packets that reach the nat chain at all; where is the rewrite kept for the others?"

    def verify(self, answer):
        if isinstance(answer, bool) or not isinstance(answer, int):
            return "answer with an integer, the number of packets the rule counted"
        if (busy := _busy()):
            return busy
        net = _lab()
        with net.network.create(f"exc-{secrets.token_hex(2)}") as n, net.internet.create() as inet, \
                net.endpoint.attach(f"exc-{secrets.token_hex(2)}", n.name) as ep:
            before = net.path.counts(n.table)
            r = ep.run(["ping", "-c", "10", "-i", "0.05", "-W", "2", inet.server])
            after = net.path.counts(n.table)
        key = ("postrouting", "outbound: SNAT to the host's address")
        seen = after[key] - before[key]
        if r.returncode != 0:
            return f"the checker's ping failed ({r.stderr.strip() or r.stdout.strip()}): run it again"
        if answer == seen:
            return None
        if answer == 10:
            return "the filter chains see all ten; the nat chain is consulted for fewer: which ones?"
        if answer == 20:
            return "replies are not matched by a postrouting rule on saddr SUBNET; and even the requests..."
        if answer == 0:
            return "the rewrite has to be decided once, by a rule"
        return f"{answer} is not what the counter showed: which packet of a connection creates its conntrack entry?"


class RepairForward(Exercise):
    id = "repair-forward"
    chapter = "C"
    kind = "break"
    title = "repair a forward chain whose policy drops everything"
    task = """Docker's FORWARD chain has the policy DROP; containers get out only through the rules
Docker puts before it. The checker builds a lab network, the "internet" namespace (given a route back
to the containers' subnet) and a container, and a lab table whose forward chain ends in `counter drop`:
the path is broken. Write a function `repair(bridge)` that returns a list of nft rules (strings, in
nft's own language) that the checker puts in that chain before the drop, so that
  * the container's UDP request to the internet's server at 198.18.0.2:9999 goes out and its reply
    comes back in, and
  * a connection the internet opens to the container (UDP to its port 9999) is still dropped.
`bridge` is the name of the network's bridge. The checker sends both and reads the counters."""
    hint = "match on where a packet comes from or goes to (iifname/oifname), and on conntrack's view of it (ct state)"

    def verify(self, answer):
        if not callable(answer):
            return "pass your function itself (repair, without parentheses)"
        rules = answer("lab-br-test")
        if isinstance(rules, str) or not isinstance(rules, (list, tuple)) or not all(isinstance(r, str) for r in rules):
            return "repair() must return a list of rules, each a string"
        if (busy := _busy()):
            return busy
        net = _lab()
        from .. import tracker
        with net.network.create(f"exc-{secrets.token_hex(2)}") as n, net.internet.create() as inet, \
                net.endpoint.attach(f"exc-{secrets.token_hex(2)}", n.name) as ep:
            net.links.add_route(n.subnet, inet.host, netns=inet.ns.name)
            table = f"labcore-exc-{secrets.token_hex(2)}"
            rec = net.nft.table(table)
            servers = []
            try:
                net.nft.chain(table, "forward", hook="forward", type="filter", priority=10)
                for rule in answer(n.bridge):
                    try:
                        net.nft.text_rule(table, "forward", rule)
                    except Exception as exc:
                        return f"nft did not take {rule!r}: {getattr(exc, 'what', exc)}"
                net.nft.text_rule(table, "forward", 'counter drop comment "dropped"')
                for where in (inet.ns, ep):
                    servers.append(where.spawn([sys.executable, "-c", SERVER], capture=True))
                    servers[-1].stdout.readline()
                ask = ("import socket,sys;s=socket.socket(2,2);s.settimeout(1);s.sendto(b'hi',(sys.argv[1],9999))\n"
                       "try: print(s.recvfrom(100)[0].decode())\nexcept OSError: print('no answer')")
                out = ep.run([sys.executable, "-c", ask, inet.server]).stdout.strip()
                dropped_out = net.path.counts(table)[("forward", "dropped")]
                into = inet.ns.run([sys.executable, "-c", ask, ep.ip]).stdout.strip()
                dropped = net.path.counts(table)[("forward", "dropped")]
            finally:
                for s in servers:
                    s.close()
                tracker.default().undo(rec)
        if out != "hi":
            if dropped_out:
                return (f"the container got no answer: the drop rule counted {dropped_out} packet(s) "
                        "(the request on its way out, or its reply on the way back?)")
            return "the container got no answer"
        if into == "hi":
            return "a connection opened from the internet reached the container: your rules let in too much"
        if dropped == dropped_out:
            return "the connection from the internet was not dropped by the chain"
        return None


EXERCISES = [NatSeesFirst, RepairForward]


__all__ = ["QUIZ", "EXERCISES"]

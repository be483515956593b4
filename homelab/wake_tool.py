"""Wake-on-LAN from the Le Potato: what the board's tool and the owner's phone share."""

TOOL = "/usr/local/bin/homelab-wake"
REMOTE = "/usr/local/bin/homelab-wake-remote"
CONFIG = "/etc/homelab/wake.json"
ACCOUNT = "homelab-wake"
# The broadcast address of every LAN the board is on (homelab-wake reads them from `ip`):
# a PC that sleeps has no address a unicast packet could reach.
BROADCAST = "auto"


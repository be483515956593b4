"""Operations of our own, where pyinfra's would be noisy, leak a secret, or ask the host
again what its probe already knows: one module per domain, like pyinfra's own.

    packages  apt and Termux packages          files    remote files, directories, links
    local     files on the control machine     systemd  units running, stopped, restarted
    server    host name, users, sysctl, stop   cluster  k3s manifests taken away
"""

from homelab import op_order

op_order.install()

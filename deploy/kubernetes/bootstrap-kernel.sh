#!/bin/sh
# The kernel pod's command: gateway_provisioners' Python launcher with metakernel_dbg's
# kernel class and start-up watchdog (python -m metakernel_dbg.launch.remotekernel), with
# what launch_kubernetes.py put in the pod's environment. Curve is always asked for: the
# meta-kernel refuses a remote kernel without it.
set -e
exec python -m metakernel_dbg.launch.remotekernel \
    --bootstrap-timeout "${MKDBG_BOOTSTRAP_TIMEOUT:-60}" \
    --kernel-id "${KERNEL_ID}" \
    --port-range "${PORT_RANGE:-0..0}" \
    --response-address "${RESPONSE_ADDRESS}" \
    --public-key "${PUBLIC_KEY}" \
    --transport-encryption required

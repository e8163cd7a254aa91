"""Device facts: transports, console profiles, the attest protocol, TPM evidence, the simulator.

This package returns facts with their strength and raises ``HardwareError``
when it cannot. It never judges: that is ``verifier``'s job.
"""

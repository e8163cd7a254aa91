"""SPDM (DMTF DSP0274) over MCTP: one concept per module.

``messages`` encodes requests and decodes responses (every length and count bounded before use), ``measurements``
reads DMTF measurement blocks, ``transcript`` builds the M1/M2 and L1/L2 transcripts and the 1.2+ signing prefix,
``verify`` checks signatures and the certificate chain, ``mctp`` is the serial binding (DSP0253), ``emu`` the TCP
framing of DMTF's spdm-emu, ``pcap`` reads recorded exchanges, ``requester`` runs the flow, ``profile`` binds it
as the ``spdm`` console profile.
"""

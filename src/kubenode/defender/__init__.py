"""The Defender: the risk-control layer every fleet operation asks before it acts.
"""

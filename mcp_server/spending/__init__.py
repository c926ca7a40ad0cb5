"""What a call costs and whether it may spend it: token estimates, prices, and the budgets held before sending.

The modules, in the order a call passes through them:

    tokens.py    token counts estimated without a tokenizer
    pricing.py   the price tables as data, and a cost from usage
    budgets.py   what each owner spends per day and tool, the limits checked before sending, holds settled after
"""

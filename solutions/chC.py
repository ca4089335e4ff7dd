"""Deep dive C's solutions."""


def repair(bridge):
    """New traffic may leave the containers' bridge; only replies may come back to it."""
    return [f'iifname "{bridge}" accept',
            f'oifname "{bridge}" ct state established,related accept']


SOLUTIONS = {
    "nat-sees-first": lambda ex: 1,
    "repair-forward": lambda ex: repair,
}

WRONG = {
    "nat-sees-first": lambda ex: [10, 20, 0, "1"],
    "repair-forward": lambda ex: [
        lambda br: ["accept"],                                      # lets the internet in too
        lambda br: [f'iifname "{br}" accept'],                      # the reply is dropped
        lambda br: ["ct state established,related accept"],        # nothing new may leave
        lambda br: f'iifname "{br}" accept',                        # a string, not a list
        lambda br: [f'oifname "{br}" accept', f'iifname "{br}" accept'],  # both ways, new included
    ],
}

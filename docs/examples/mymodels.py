"""A model of your own for `gencheck probe --model-entry mymodels:tiny` (docs/models.md)."""
import string

from torch import nn


class TinyGRU(nn.Module):
    chars = "\x1e" + string.printable  # the character of each id; "\x1e" starts a document

    def __init__(self, hidden: int = 64) -> None:
        super().__init__()
        self.embed = nn.Embedding(len(self.chars), 32)
        self.gru = nn.GRU(32, hidden, batch_first=True)
        self.head = nn.Linear(hidden, len(self.chars))

    def forward(self, x, state=None):  # x: (B, T) ids; state: None at a document's start
        out, state = self.gru(self.embed(x), state)
        return self.head(out), state  # logits (B, T, len(chars)), and the state to carry on


def tiny() -> TinyGRU:
    model = TinyGRU()
    # model.load_state_dict(torch.load("tiny.pt"))  # your trained weights
    return model

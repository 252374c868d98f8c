"""Helpers for notebooks/sentence_completion.ipynb: a tiny word-level tokenizer, a short
text written for this project, and a small Hugging Face GPT-2 trained on it in seconds.

Nothing is downloaded: the model is `transformers.GPT2LMHeadModel` built from a small
`GPT2Config` and trained here, deterministically (fixed seed, one thread), so the notebook and
its test get the same weights on every machine that has the same torch build.
"""
import re

import torch

# A short text of our own (project-written, free to use). Every sentence ends with " ." which
# the tokenizer treats as the end-of-sentence token.
CORPUS = """
The Manhattan Bridge is a suspension bridge that crosses the East River in New York City .
The Manhattan Bridge is painted blue and carries trains , cars and people on foot .
The Brooklyn Bridge is an old bridge of stone and steel with two tall towers .
The Brooklyn Bridge is a favorite walk for visitors at sunset .
The Williamsburg Bridge is a long bridge that connects Manhattan with Brooklyn .
The East River is a tidal strait between Manhattan and Brooklyn .
A suspension bridge hangs its deck from cables that run over tall towers .
The cables of the bridge are made of thousands of steel wires .
Trains cross the river on the lower deck of the bridge .
People walk and ride bikes across the bridge every morning .
The city is busy and the river is wide .
The towers of the bridge rise high above the water .
Boats sail under the bridge on their way to the harbor .
The old bridge was opened more than a century ago .
Engineers inspect the bridge and paint the steel every few years .
At night the lights of the bridge shine over the river .
The subway runs under the streets of the city .
Many bridges and tunnels connect the islands of the city .
The harbor is full of ships , ferries and small boats .
A ferry carries people across the river in a few minutes .
"""

EOS = "."
SPECIALS = ["<pad>", "<unk>"]


def words(text):
    """Lower-case words and punctuation marks, in order."""
    return re.findall(r"[a-z]+|[.,]", text.lower())


class WordTokenizer:
    """A word-level tokenizer: one id per distinct word of the corpus, plus <pad> and <unk>."""

    def __init__(self, text):
        vocab = sorted(set(words(text)))
        # names (capitalized inside a sentence) are capitalized again when decoding
        caps = {w.lower() for line in text.splitlines() for w in re.findall(r"[A-Za-z]+", line)[1:] if w[0].isupper()}
        lower = {w for line in text.splitlines() for w in re.findall(r"[A-Za-z]+", line)[1:] if w[0].islower()}
        self.names = caps - lower
        # ... and so are words capitalized after a name ("Manhattan Bridge", "East River")
        self.after_name = set()
        for line in text.splitlines():
            ws = re.findall(r"[A-Za-z]+", line)
            for a, b in zip(ws[1:], ws[2:]):
                if a[0].isupper() and b[0].isupper():
                    self.after_name.add((a.lower(), b.lower()))
        self.itos = SPECIALS + vocab
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.eos_id = self.stoi[EOS]

    def __len__(self):
        return len(self.itos)

    def encode(self, text):
        return [self.stoi.get(w, self.stoi["<unk>"]) for w in words(text)]

    def decode(self, ids):
        out = []
        prev = None
        for i in ids:
            w = self.itos[int(i)]
            cap = w in self.names or (prev, w) in self.after_name
            prev = w
            if cap:
                w = w.capitalize()
            if w in (".", ",") and out:
                out[-1] += w
            else:
                out.append(w)
        text = " ".join(out)
        return text[:1].upper() + text[1:]


def sentences(tok, text=CORPUS):
    """Token id lists, one per line of the text."""
    return [tok.encode(line) for line in text.strip().splitlines() if line.strip()]


def build_model(vocab_size, n_embd=64, n_layer=2, n_head=2, n_positions=64):
    """A small GPT2LMHeadModel (eager attention, no dropout)."""
    import transformers
    from transformers import GPT2Config, GPT2LMHeadModel

    transformers.logging.set_verbosity_error()
    cfg = GPT2Config(vocab_size=vocab_size, n_positions=n_positions, n_embd=n_embd, n_layer=n_layer, n_head=n_head,
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0,
                     attn_implementation="eager")
    return GPT2LMHeadModel(cfg)


def train(steps=120, seed=0, lr=5e-3, log_every=20):
    """Train the tiny GPT-2 on CORPUS (next-token prediction over whole sentences).
    Returns (model in eval mode, tokenizer, list of (step, loss))."""
    torch.manual_seed(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same summation order everywhere: deterministic weights
    try:
        tok = WordTokenizer(CORPUS)
        model = build_model(len(tok))
        data = sentences(tok)
        width = max(len(s) for s in data)
        pad = tok.stoi["<pad>"]
        x = torch.full((len(data), width), pad, dtype=torch.long)
        for i, s in enumerate(data):
            x[i, :len(s)] = torch.tensor(s)
        labels = x.clone()
        labels[x == pad] = -100  # no loss on padding
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        model.train()
        log = []
        for step in range(steps):
            out = model(x, labels=labels, use_cache=False)
            opt.zero_grad()
            out.loss.backward()
            opt.step()
            if step % log_every == 0 or step == steps - 1:
                log.append((step, round(out.loss.item(), 4)))
        model.eval()
        return model, tok, log
    finally:
        torch.set_num_threads(threads)


class NextTokenLogits(torch.nn.Module):
    """What gets traced: token ids (1, n) -> logits (1, n, vocab). The causal mask is built
    here from the sequence length, so the trace follows the length at run time."""

    def __init__(self, lm):
        super().__init__()
        self.lm = lm

    def forward(self, tokens):
        n = tokens.size(1)
        pos = torch.arange(n)
        mask = (pos[None, :] > pos[:, None]).float() * -1e4  # 0 where a token may look, -1e4 ahead
        return self.lm(tokens, attention_mask=mask[None, None], use_cache=False).logits


class Finish(torch.nn.Module):
    """Greedy completion until the end-of-sentence token (or max_len new tokens), scripted
    around a traced next-token predictor."""

    def __init__(self, predictor, eos: int, max_len: int):
        super().__init__()
        self.predictor = predictor
        self.eos = eos
        self.max_len = max_len

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        for _ in range(self.max_len):
            nxt = self.predictor(tokens)[0, -1].argmax()
            tokens = torch.cat((tokens, nxt.reshape(1, 1)), dim=1)
            if nxt == self.eos:
                break
        return tokens


def greedy(lm, ids, eos, max_len=64):
    """Plain PyTorch greedy decoding (the reference)."""
    tokens = torch.tensor([ids])
    with torch.no_grad():
        for _ in range(max_len):
            nxt = int(lm(tokens, use_cache=False).logits[0, -1].argmax())
            tokens = torch.cat((tokens, torch.tensor([[nxt]])), dim=1)
            if nxt == eos:
                break
    return tokens[0].tolist()

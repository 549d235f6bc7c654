# expect: exploding_gradients|non_finite|loss_divergence
"""A vanilla RNN and its read-out head kept in an nn.ModuleDict and called one by one from the loop
(the container itself is never called), trained at a learning rate that is too high.

Within a few dozen steps the gradient norm goes from ~3 to ~10^4 and the loss from ~3 to ~10^5.
The same model written as one nn.Module with a forward() is diagnosed; this layout must be too.
"""

import torch
import torch.nn.functional as F
from torch import nn

torch.manual_seed(0)
rnn = nn.RNN(1, 32, batch_first=True)
head = nn.Linear(32, 1)
nn.init.orthogonal_(rnn.weight_hh_l0)
model = nn.ModuleDict({"rnn": rnn, "head": head})
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

x = torch.randn(256, 60, 1)  # [N, T, 1]
y = x[:, -3:, 0].sum(1, keepdim=True)  # the sum of the last three inputs

for step in range(80):
    idx = torch.randint(0, 256, (32,))
    optimizer.zero_grad()
    out, _ = model["rnn"](x[idx])  # [B, T, H]
    loss = F.mse_loss(model["head"](out[:, -1]), y[idx])
    loss.backward()
    grad_norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()]))
    optimizer.step()
    if step % 10 == 0 or step == 79:
        print(f"step {step}: loss {loss.item():.4g}, gradient norm {grad_norm.item():.4g}")

"""One model, two optimizers (body and head) and one GradScaler, stepped the documented way:
scaler.scale(loss).backward(); scaler.step(opt_body); scaler.step(opt_head); scaler.update().

The head's gradients stay scaled (x65536) until scaler.step(opt_head) unscales them, after the body's
optimizer has stepped: a monitor that reads them at the body's step sees them 65536x too large.
"""

import torch
import torch.nn.functional as F
from torch import nn

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(20, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 3))
opt_body = torch.optim.SGD(model[:4].parameters(), lr=0.05, momentum=0.9)
opt_head = torch.optim.Adam(model[4].parameters(), lr=1e-3)
scaler = torch.amp.GradScaler("cpu")

x = torch.randn(1024, 20)
y = (x[:, :3].argmax(1)).long()
for step in range(200):
    batch = torch.randint(0, 1024, (64,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = F.cross_entropy(model(x[batch]).float(), y[batch])
    opt_body.zero_grad()
    opt_head.zero_grad()
    scaler.scale(loss).backward()
    scaler.step(opt_body)
    scaler.step(opt_head)
    scaler.update()
    if step % 50 == 0 or step == 199:
        print(f"step {step}: loss {loss.item():.3f}")

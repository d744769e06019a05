"""The ClientApp: train this node's partition for its share of the round's epochs."""

from __future__ import annotations

from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.clientapp.mod import fixedclipping_mod

from flower_digits import task
from milon_app.compute.trainer import train

app = ClientApp()
# Flower's client-side DP (the privacy section): the mod clips each update to the norm the
# server's DifferentialPrivacyClientSideFixedClipping sends; the server adds the noise
dp_app = ClientApp(mods=[fixedclipping_mod])


def train_round(msg: Message, context: Context) -> Message:
    """One round of local training from the global model the server sent."""
    cfg = msg.content["config"]
    index = int(context.node_config["partition-id"])
    clients = int(context.node_config["num-partitions"])
    seed = int(cfg["seed"])
    data, model = str(cfg.get("dataset", "")), str(cfg.get("model", ""))
    samples = int(cfg.get("samples", 0))
    x, y = task.partition(
        index, clients, seed, data, model, bool(cfg.get("holdout", False)), samples
    )
    # model "sim": every member trains the same epochs (milon sim's --epochs)
    epochs = (
        int(cfg["epochs-per-round"])
        if model == task.SIM
        else task.epochs_for(index, clients, int(cfg["epochs-per-round"]))
    )
    state = msg.content["arrays"].to_torch_state_dict()
    result = train(
        task.spec(model, data),
        state,
        (x, y),
        epochs=epochs,
        seed=task.train_seed(int(cfg["server-round"]), index),
        threads=int(cfg["threads"]),
    )
    content = RecordDict(
        {
            "arrays": ArrayRecord(result.state),
            "metrics": MetricRecord(
                {
                    "num-examples": result.num_samples,
                    "train-loss": result.train_loss,
                    "train-s": result.wall_s,
                    "epochs": epochs,
                }
            ),
        }
    )
    return Message(content=content, reply_to=msg)


app.train()(train_round)
dp_app.train()(train_round)

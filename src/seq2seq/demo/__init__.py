"""`seq2seq demo`: the experiments of Saito, Deep Learning from Scratch 2 (ch. 7 addition, ch. 8 dates), run end
to end with their report."""

"""The data (chapter 2): the NAF rév. 2 nomenclature, the text cleaning every model
shares, the generated training corpus (its sources, noise and class mix, and how
it compares with real rows), loading any labelled file, and the 212 real
descriptions used for evaluation only."""

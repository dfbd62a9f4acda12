// uPlot's own stylesheet (the metrics charts of the run monitor), then ours.
import 'uplot/dist/uPlot.min.css';
import './index.css';

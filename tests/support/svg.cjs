/* global module */
// What an SVG file imported as text gives in Jest (jest.config.js maps *.svg here).
module.exports = '<svg xmlns="http://www.w3.org/2000/svg"></svg>';
